package main

import (
	"time"

	"github.com/spf13/cobra"
)

type appDeployOptions struct {
	g *globalOptions

	Name    string
	AppFlag string

	From        string
	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdAppDeploy(g *globalOptions, runF func(*appDeployOptions) error) *cobra.Command {
	opts := &appDeployOptions{g: g}
	cmd := &cobra.Command{
		Use:   "deploy NAME --from DIR [--no-wait] [--wait-timeout 5m] [--json]",
		Short: "Deploy a new release of an app from a directory",
		Long: `Pack DIR (honouring .gitignore and .gasperignore, without .git), upload it as
a new release, follow its build on standard error, wait until the app runs
it and print its address on standard output.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.From == "" {
				e := usageErrorf("missing --from DIR")
				e.hint = "deploy the current directory with: gasper app deploy " + name + " --from .; rebuild a git app with: gasper app rebuild " + name
				return e
			}
			if opts.WaitTimeout <= 0 {
				return usageErrorf("--wait-timeout must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppDeploy(cmd, opts)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "deploy this directory")
	addWaitFlags(cmd, &opts.NoWait, &opts.WaitTimeout, &opts.JSON)
	return appCommand(cmd, &opts.AppFlag)
}

func runAppDeploy(cmd *cobra.Command, opts *appDeployOptions) error {
	ctx, g := cmd.Context(), opts.g
	c, err := g.client()
	if err != nil {
		return err
	}
	src, err := packSource(g, opts.From)
	if err != nil {
		return err
	}
	defer src.close()
	rel, err := c.UploadSource(ctx, opts.Name, src.File)
	if err != nil {
		return uploadError(err, opts.Name)
	}
	r := &rollout{g: g, c: c, app: opts.Name, release: rel.Number, build: true,
		noWait: opts.NoWait, waitTimeout: opts.WaitTimeout, json: opts.JSON}
	return r.run(ctx)
}
