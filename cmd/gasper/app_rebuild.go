package main

import (
	"time"

	"github.com/spf13/cobra"
)

type appRebuildOptions struct {
	g *globalOptions

	Name        string
	AppFlag     string
	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdAppRebuild(g *globalOptions, runF func(*appRebuildOptions) error) *cobra.Command {
	opts := &appRebuildOptions{g: g}
	cmd := &cobra.Command{
		Use:   "rebuild NAME [--no-wait] [--wait-timeout 5m] [--json]",
		Short: "Build an app's current source again (a git app fetches its branch) and deploy it",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.WaitTimeout <= 0 {
				return usageErrorf("--wait-timeout must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppRebuild(cmd, opts)
		},
	}
	addWaitFlags(cmd, &opts.NoWait, &opts.WaitTimeout, &opts.JSON)
	return appCommand(cmd, &opts.AppFlag)
}

func runAppRebuild(cmd *cobra.Command, opts *appRebuildOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	rel, err := c.Rebuild(cmd.Context(), opts.Name)
	if err != nil {
		return err
	}
	r := &rollout{g: opts.g, c: c, app: opts.Name, release: rel.Number, build: true,
		noWait: opts.NoWait, waitTimeout: opts.WaitTimeout, json: opts.JSON}
	return r.run(cmd.Context())
}
