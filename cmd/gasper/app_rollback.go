package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

type appRollbackOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	// Release is the release to go back to; 0 means the one before the
	// current.
	Release     int
	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdAppRollback(g *globalOptions, runF func(*appRollbackOptions) error) *cobra.Command {
	opts := &appRollbackOptions{g: g}
	cmd := &cobra.Command{
		Use:   "rollback NAME [RELEASE] [--no-wait] [--wait-timeout 5m] [--json]",
		Short: "Run an earlier release's image again, as a new release",
		Long: `Run an earlier release's image again, as a new release (no rebuild); without
RELEASE, the one before the current. Then wait until the app runs it and
print its address.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 0, 1, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if len(rest) == 1 {
				n, err := strconv.Atoi(rest[0])
				if err != nil || n < 1 {
					return usageErrorf("RELEASE must be a release number, not %q", rest[0])
				}
				opts.Release = n
			}
			if opts.WaitTimeout <= 0 {
				return usageErrorf("--wait-timeout must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppRollback(cmd, opts)
		},
	}
	addWaitFlags(cmd, &opts.NoWait, &opts.WaitTimeout, &opts.JSON)
	return appCommand(cmd, &opts.AppFlag)
}

func runAppRollback(cmd *cobra.Command, opts *appRollbackOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	rel, err := c.Rollback(cmd.Context(), opts.Name, opts.Release)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Release %d of %s: %s\n", rel.Number, opts.Name, or(rel.Cause, "rollback"))
	r := &rollout{g: opts.g, c: c, app: opts.Name, release: rel.Number,
		noWait: opts.NoWait, waitTimeout: opts.WaitTimeout, json: opts.JSON}
	return r.run(cmd.Context())
}
