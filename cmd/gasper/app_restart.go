package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type appRestartOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
}

func newCmdAppRestart(g *globalOptions, runF func(*appRestartOptions) error) *cobra.Command {
	opts := &appRestartOptions{g: g}
	cmd := &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart every instance of an app",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if runF != nil {
				return runF(opts)
			}
			return runAppRestart(cmd, opts)
		},
	}
	return appCommand(cmd, &opts.AppFlag)
}

func runAppRestart(cmd *cobra.Command, opts *appRestartOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	if err := c.Restart(cmd.Context(), opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Restarting %s; see it with: gasper app info %s\n", opts.Name, opts.Name)
	return nil
}
