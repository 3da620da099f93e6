package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type appDeleteOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	Yes     bool
}

func newCmdAppDelete(g *globalOptions, runF func(*appDeleteOptions) error) *cobra.Command {
	opts := &appDeleteOptions{g: g}
	cmd := &cobra.Command{
		Use:     "delete NAME [--yes]",
		Aliases: []string{"rm"},
		Short:   "Delete an app with its containers, images, releases and sources",
		Long: `Delete an app with its containers, images, releases and sources.

On a terminal you confirm by typing the app's name; without a terminal the
command refuses to run unless given --yes.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if runF != nil {
				return runF(opts)
			}
			return runAppDelete(cmd, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppDelete(cmd *cobra.Command, opts *appDeleteOptions) error {
	g := opts.g
	if !opts.Yes {
		if !g.io.CanPrompt() {
			return usageErrorf("refusing to delete %s without --yes: standard input is not a terminal", opts.Name)
		}
		fmt.Fprintf(g.io.ErrOut, "This deletes %s with its containers, images, releases and sources; it cannot be undone.\n", opts.Name)
		ans, err := g.io.Prompt("Type the app's name to confirm: ")
		if err != nil {
			return err
		}
		if ans != opts.Name {
			return fmt.Errorf("aborted: %q is not %q", ans, opts.Name)
		}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	if err := c.DeleteApp(cmd.Context(), opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(g.io.ErrOut, "Deleted app %s\n", opts.Name)
	return nil
}
