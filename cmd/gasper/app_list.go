package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appListOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdAppList(g *globalOptions, runF func(*appListOptions) error) *cobra.Command {
	opts := &appListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List your apps (admins: every app)",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runAppList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the apps as JSON")
	return cmd
}

func runAppList(cmd *cobra.Command, opts *appListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	apps, err := c.Apps(cmd.Context())
	if err != nil {
		return err
	}
	if apps == nil {
		apps = []api.App{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, apps)
	}
	if len(apps) == 0 {
		fmt.Fprintln(opts.g.io.ErrOut, "No apps yet; create one with: gasper app create NAME --from DIR")
		return nil
	}
	now := opts.g.now()
	t := newTable(opts.g.io.Out, "NAME", "STATUS", "RELEASE", "RUNTIME", "REPLICAS", "INSTANCES", "ADDRESS", "UPDATED")
	for _, a := range apps {
		t.row(a.Name, a.Status, releaseLabel(a.Release), runtimeLabel(a.Config.Runtime), replicasLabel(a),
			instancesLabel(a.Instances), addressLabel(a.Address), ago(now, a.UpdatedAt))
	}
	return t.flush()
}

// releaseLabel renders a release number, "-" for none.
func releaseLabel(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// runtimeLabel renders a configured runtime; none means detected.
func runtimeLabel(r string) string {
	if r == "" {
		return "auto"
	}
	return r
}

// instancesLabel renders healthy/total instances.
func instancesLabel(ins []api.Instance) string {
	healthy := 0
	for _, in := range ins {
		if in.State == "healthy" {
			healthy++
		}
	}
	return fmt.Sprintf("%d/%d", healthy, len(ins))
}

// addressLabel renders an app's address as a URL, "-" for none.
func addressLabel(addr string) string {
	if addr == "" {
		return "-"
	}
	return "http://" + addr
}
