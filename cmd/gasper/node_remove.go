package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type nodeRemoveOptions struct {
	g *globalOptions

	Node string
	Yes  bool
}

func newCmdNodeRemove(g *globalOptions, runF func(*nodeRemoveOptions) error) *cobra.Command {
	opts := &nodeRemoveOptions{g: g}
	cmd := &cobra.Command{
		Use:     "remove NODE [--yes]",
		Aliases: []string{"rm"},
		Short:   "Forget a node and close its tunnel",
		Args:    exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Node = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runNodeRemove(cmd, opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return adminOnly(cmd, "gasper node list")
}

func runNodeRemove(cmd *cobra.Command, opts *nodeRemoveOptions) error {
	if err := confirm(opts.g, opts.Yes, fmt.Sprintf("Remove node %s? Its applications will be placed elsewhere.", opts.Node)); err != nil {
		return err
	}
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	if err := c.RemoveNode(cmd.Context(), opts.Node); err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Removed node %s\n", opts.Node)
	return nil
}

// confirm asks question on a terminal unless yes is set, and refuses to go
// on without --yes when nobody can answer.
func confirm(g *globalOptions, yes bool, question string) error {
	if yes {
		return nil
	}
	if !g.io.CanPrompt() {
		return usageErrorf("refusing to proceed without --yes: standard input is not a terminal")
	}
	ok, err := g.io.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("aborted")
	}
	return nil
}
