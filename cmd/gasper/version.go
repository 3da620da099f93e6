package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// versionInfo is what `gasper version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

type versionOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdVersion(g *globalOptions) *cobra.Command {
	opts := &versionOptions{g: g}
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the CLI's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := versionInfo{Version: g.version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
			if opts.JSON {
				return printJSON(g.io.Out, v)
			}
			_, err := fmt.Fprintf(g.io.Out, "gasper %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the version as JSON")
	return cmd
}
