package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

type nodeInfoOptions struct {
	g *globalOptions

	Node string
	JSON bool
}

func newCmdNodeInfo(g *globalOptions, runF func(*nodeInfoOptions) error) *cobra.Command {
	opts := &nodeInfoOptions{g: g}
	cmd := &cobra.Command{
		Use:   "info NODE [--json]",
		Short: "Show one node (by ID, or hostname if unique)",
		Args:  exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Node = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runNodeInfo(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the node as JSON")
	return adminOnly(cmd, "gasper node list")
}

func runNodeInfo(cmd *cobra.Command, opts *nodeInfoOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	n, err := c.Node(cmd.Context(), opts.Node)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, n)
	}
	now := opts.g.now()
	lastSeen := "never"
	if n.LastSeen != nil {
		lastSeen = ago(now, *n.LastSeen) + " (" + timestamp(*n.LastSeen) + ")"
	}
	f, u := n.Facts, n.Usage
	return keyValues(opts.g.io.Out,
		"ID", n.ID,
		"Hostname", n.Hostname,
		"Advertise", n.Advertise,
		"Roles", strings.Join(n.Roles, ","),
		"State", n.State,
		"Connected", yesNo(n.Connected),
		"Cordoned", yesNo(n.Cordoned),
		"Joined", timestamp(n.JoinedAt),
		"Last seen", lastSeen,
		"CPUs", strconv.Itoa(f.CPUs),
		"CPU use", fmt.Sprintf("%.1f%% (load %.2f)", u.CPUPercent, u.Load1),
		"Memory", fmt.Sprintf("%s used of %s", humanBytes(u.MemoryUsedBytes), humanBytes(f.MemoryBytes)),
		"Disk", fmt.Sprintf("%s used of %s", humanBytes(u.DiskUsedBytes), humanBytes(f.DiskBytes)),
		"OS/arch", f.OS+"/"+f.Arch,
		"Kernel", f.KernelVersion,
		"containerd", f.ContainerdVersion,
		"Agent", f.AgentVersion,
	)
}
