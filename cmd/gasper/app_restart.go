package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appRestartOptions struct {
	g *globalOptions

	Name        string
	AppFlag     string
	Wait        bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdAppRestart(g *globalOptions, runF func(*appRestartOptions) error) *cobra.Command {
	opts := &appRestartOptions{g: g}
	cmd := &cobra.Command{
		Use:   "restart NAME [--wait [--wait-timeout 2m] [--json]]",
		Short: "Restart every instance of an app",
		Long: `Replace every instance of an app with a fresh one. With --wait the command
shows the progress (a spinner on a terminal) until every instance is fresh
and healthy, then prints the app's address (--json: the app).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if !opts.Wait && (opts.JSON || cmd.Flags().Changed("wait-timeout")) {
				return usageErrorf("--json and --wait-timeout need --wait")
			}
			if opts.WaitTimeout <= 0 {
				return usageErrorf("--wait-timeout must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppRestart(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Wait, "wait", false, "wait until every instance is fresh and healthy")
	f.DurationVar(&opts.WaitTimeout, "wait-timeout", 2*time.Minute, "how long --wait waits")
	f.BoolVar(&opts.JSON, "json", false, "with --wait, print the app as JSON once restarted")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppRestart(cmd *cobra.Command, opts *appRestartOptions) error {
	ctx, g := cmd.Context(), opts.g
	c, err := g.client()
	if err != nil {
		return err
	}
	old := map[string]bool{}
	if opts.Wait {
		a, err := c.App(ctx, opts.Name)
		if err != nil {
			return err
		}
		for _, in := range a.Instances {
			old[in.ID] = true
		}
	}
	if err := c.Restart(ctx, opts.Name); err != nil {
		return err
	}
	if !opts.Wait {
		fmt.Fprintf(g.io.ErrOut, "Restarting %s; see it with: gasper app info %s\n", opts.Name, opts.Name)
		return nil
	}
	a, err := waitRestarted(ctx, opts, old)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(g.io.Out, a)
	}
	fmt.Fprintf(g.io.ErrOut, "Restarted %s: %d fresh instances\n", a.Name, len(a.Instances))
	if a.Address != "" {
		_, err = fmt.Fprintf(g.io.Out, "http://%s\n", a.Address)
	}
	return err
}

// waitRestarted polls the app until it runs with none of the old
// instances and all of its instances healthy, showing how far it got.
func waitRestarted(ctx context.Context, opts *appRestartOptions, old map[string]bool) (*api.App, error) {
	return opts.g.waitApp(ctx, appWait{name: opts.Name, timeout: opts.WaitTimeout, past: "restarted", noun: "the restart",
		hint: ", and its logs with: gasper app logs " + opts.Name,
		check: func(a *api.App) (bool, string) {
			fresh := 0
			for _, in := range a.Instances {
				if !old[in.ID] && in.State == "healthy" {
					fresh++
				}
			}
			if a.Status == api.AppRunning && len(a.Instances) > 0 && fresh == len(a.Instances) {
				return true, ""
			}
			return false, fmt.Sprintf("Restarting %s: %d of %d instances fresh and healthy (%s)", a.Name, fresh, len(a.Instances), a.Status)
		}})
}
