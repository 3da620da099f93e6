package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gasper/api"
)

type nodeListOptions struct {
	g *globalOptions

	JSON bool
}

func newCmdNodeList(g *globalOptions, runF func(*nodeListOptions) error) *cobra.Command {
	opts := &nodeListOptions{g: g}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List the nodes",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runNodeList(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the nodes as JSON")
	return adminOnly(cmd, "")
}

func runNodeList(cmd *cobra.Command, opts *nodeListOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	nodes, err := c.Nodes(cmd.Context())
	if err != nil {
		return err
	}
	if nodes == nil {
		nodes = []api.Node{}
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, nodes)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(opts.g.io.ErrOut, "No nodes yet; add one with: gasper node token")
		return nil
	}
	now := opts.g.now()
	t := newTable(opts.g.io.Out, "ID", "HOSTNAME", "ADVERTISE", "ROLES", "STATE", "CPUS", "MEMORY", "LAST SEEN")
	for _, n := range nodes {
		lastSeen := "never"
		if n.LastSeen != nil {
			lastSeen = ago(now, *n.LastSeen)
		}
		t.row(n.ID, n.Hostname, n.Advertise, strings.Join(n.Roles, ","), nodeState(n),
			strconv.Itoa(n.Facts.CPUs), humanBytes(n.Facts.MemoryBytes), lastSeen)
	}
	return t.flush()
}

// nodeState is the state column: the master's state, flagged when the tunnel
// is closed although the master still counts the node as ready, and when
// the node is cordoned.
func nodeState(n api.Node) string {
	s := n.State
	if n.State == api.NodeReady && !n.Connected {
		s += " (disconnected)"
	}
	if n.Cordoned {
		s += ",cordoned"
	}
	return s
}
