package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type nodeCordonOptions struct {
	g *globalOptions

	Node   string
	Cordon bool
	JSON   bool
}

// newCmdNodeCordon makes `node cordon` (cordon true) or `node uncordon`.
func newCmdNodeCordon(g *globalOptions, cordon bool, runF func(*nodeCordonOptions) error) *cobra.Command {
	opts := &nodeCordonOptions{g: g, Cordon: cordon}
	use, short := "cordon NODE [--json]", "Stop placing new apps on a node (what runs there stays)"
	if !cordon {
		use, short = "uncordon NODE [--json]", "Let a cordoned node take new apps again"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Node = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runNodeCordon(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the node as JSON")
	return adminOnly(cmd, "gasper node list")
}

func runNodeCordon(cmd *cobra.Command, opts *nodeCordonOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	n, err := c.CordonNode(cmd.Context(), opts.Node, opts.Cordon)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, n)
	}
	if opts.Cordon {
		fmt.Fprintf(opts.g.io.ErrOut, "Cordoned node %s: it takes no new apps; move its apps off with: gasper node drain %s\n", n.Hostname, n.Hostname)
	} else {
		fmt.Fprintf(opts.g.io.ErrOut, "Uncordoned node %s: it takes new apps again\n", n.Hostname)
	}
	return nil
}
