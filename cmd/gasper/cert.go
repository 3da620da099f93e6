package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

func newCmdCert(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Upload, list and remove certificates for custom domains (admin)",
		Long: `Upload, list and remove the certificates the proxies serve for custom
domains. Apps' NAME.DOMAIN names get certificates from the cloud CA (gasper ca)
and need none; custom domains can also get theirs from ACME (see
docs/networking.md).`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRun,
	}
	var certFile, keyFile string
	var asJSON bool
	add := &cobra.Command{
		Use:   "add --cert FULLCHAIN.pem --key KEY.pem",
		Short: "Upload a certificate chain and its key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" {
				return usageErrorf("both --cert and --key are needed")
			}
			certPEM, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			crt, err := c.AddCertificate(cmd.Context(), api.CertificateRequest{CertPEM: string(certPEM), KeyPEM: string(keyPEM)})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.io.ErrOut, "Uploaded %s for %s, valid until %s\n", crt.Name, strings.Join(crt.Hosts, ", "), crt.NotAfter.Format(time.DateOnly))
			return nil
		},
	}
	add.Flags().StringVar(&certFile, "cert", "", "PEM file with the certificate chain, leaf first")
	add.Flags().StringVar(&keyFile, "key", "", "PEM file with the private key")
	list := &cobra.Command{
		Use:   "list",
		Short: "List uploaded certificates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			cs, err := c.Certificates(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.io.Out, cs)
			}
			t := newTable(g.io.Out, "NAME", "HOSTS", "VALID UNTIL")
			for _, crt := range cs {
				t.row(crt.Name, strings.Join(crt.Hosts, ","), crt.NotAfter.Format(time.DateOnly))
			}
			return t.flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an uploaded certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.RemoveCertificate(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.io.ErrOut, "Removed %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}
