package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appReleasesOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	JSON    bool
}

func newCmdAppReleases(g *globalOptions, runF func(*appReleasesOptions) error) *cobra.Command {
	opts := &appReleasesOptions{g: g}
	cmd := &cobra.Command{
		Use:   "releases NAME [--json]",
		Short: "List an app's releases, newest first",
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
			return runAppReleases(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the releases as JSON")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppReleases(cmd *cobra.Command, opts *appReleasesOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	rels, err := c.Releases(cmd.Context(), opts.Name)
	if err != nil {
		return err
	}
	if rels == nil {
		rels = []api.Release{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, rels)
	}
	if len(rels) == 0 {
		fmt.Fprintf(opts.g.io.ErrOut, "No releases yet; deploy one with: gasper app deploy %s --from DIR\n", opts.Name)
		return nil
	}
	now := opts.g.now()
	t := newTable(opts.g.io.Out, "NUMBER", "STATUS", "CAUSE", "CREATED", "BUILD-TIME", "CURRENT")
	for _, r := range rels {
		status := r.Status
		if r.Error != "" {
			status += ": " + r.Error
		}
		current := ""
		if r.Current {
			current = "*"
		}
		t.row(strconv.Itoa(r.Number), status, or(r.Cause, "-"), ago(now, r.CreatedAt), or(r.BuildTime, "-"), current)
	}
	return t.flush()
}
