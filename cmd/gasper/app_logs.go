package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"
)

type appLogsOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	Follow  bool
	Tail    int
}

func newCmdAppLogs(g *globalOptions, runF func(*appLogsOptions) error) *cobra.Command {
	opts := &appLogsOptions{g: g}
	cmd := &cobra.Command{
		Use:   "logs NAME [-f] [--tail N]",
		Short: "Print an app's logs (all instances); -f follows them",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.Tail < 0 {
				return usageErrorf("--tail must not be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppLogs(cmd, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines until interrupted")
	cmd.Flags().IntVarP(&opts.Tail, "tail", "n", 0, "start this many lines back (0: the master's default)")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppLogs(cmd *cobra.Command, opts *appLogsOptions) error {
	ctx := cmd.Context()
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	rc, err := c.Logs(ctx, opts.Name, opts.Follow, opts.Tail)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(opts.g.io.Out, rc)
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil // Ctrl-C is how a followed log ends
	}
	return err
}
