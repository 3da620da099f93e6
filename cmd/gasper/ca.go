package main

import (
	"github.com/spf13/cobra"
)

type caOptions struct {
	g *globalOptions
}

func newCmdCA(g *globalOptions, runF func(*caOptions) error) *cobra.Command {
	opts := &caOptions{g: g}
	return &cobra.Command{
		Use:   "ca",
		Short: "Print the cloud CA certificate that signs apps' HTTPS certificates",
		Long: `Print the cloud CA certificate (PEM) that signs the certificates the proxies
serve for NAME.DOMAIN. Trust it to verify your apps' HTTPS:

  gasper ca > gasper-ca.pem
  curl --cacert gasper-ca.pem https://web.gasper.internal/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			c, err := opts.g.client()
			if err != nil {
				return err
			}
			pem, err := c.CloudCA(cmd.Context())
			if err != nil {
				return err
			}
			_, err = opts.g.io.Out.Write(pem)
			return err
		},
	}
}
