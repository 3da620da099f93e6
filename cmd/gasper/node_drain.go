package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

type nodeDrainOptions struct {
	g *globalOptions

	Node        string
	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdNodeDrain(g *globalOptions, runF func(*nodeDrainOptions) error) *cobra.Command {
	opts := &nodeDrainOptions{g: g}
	cmd := &cobra.Command{
		Use:   "drain NODE [--no-wait] [--json]",
		Short: "Cordon a node and move its apps to other nodes, one at a time, with no failed request",
		Long: `Cordon a node and move its apps to other nodes, one at a time. Each app is
rebuilt from its current release's source on the node with the most free
memory; its old instance keeps serving until the new one is healthy.`,
		Args: exactArgs("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Node = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runNodeDrain(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.NoWait, "no-wait", false, "return once the drain has started")
	f.DurationVar(&opts.WaitTimeout, "wait-timeout", 15*time.Minute, "how long to wait for the node to be empty")
	f.BoolVar(&opts.JSON, "json", false, "print the drain (node and apps moved) as JSON")
	return adminOnly(cmd, "gasper node list")
}

func runNodeDrain(cmd *cobra.Command, opts *nodeDrainOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	d, err := c.DrainNode(cmd.Context(), opts.Node)
	if err != nil {
		return err
	}
	errOut := opts.g.io.ErrOut
	fmt.Fprintf(errOut, "Cordoned node %s; moving %d apps off it: %s\n", d.Node.Hostname, len(d.Apps), strings.Join(d.Apps, " "))
	if !opts.NoWait && len(d.Apps) > 0 {
		if err := waitDrained(cmd.Context(), opts, d.Node); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "Node %s runs no apps; remove it with: gasper node remove %s\n", d.Node.Hostname, d.Node.Hostname)
	}
	if opts.JSON {
		return printJSON(opts.g.io.Out, d)
	}
	return nil
}

// waitDrained polls the apps until none is placed on the node and every app
// it ran runs elsewhere.
func waitDrained(ctx context.Context, opts *nodeDrainOptions, n api.Node) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.WaitTimeout)
	defer cancel()
	p := newProgress(opts.g.io.ErrOut, opts.g.io.IsStderrTTY(), opts.g.now)
	defer p.close()
	every := opts.g.pollInterval
	if every <= 0 {
		every = time.Second
	}
	left := []string{}
	for {
		as, err := c.Apps(ctx)
		switch {
		case err == nil:
			left = left[:0]
			var why []string
			for _, a := range as {
				if a.Node == n.ID || slices.Contains(a.Nodes, n.ID) || runsOn(a, n.ID) {
					left = append(left, a.Name)
					if a.Status == api.AppPending {
						why = append(why, a.Name+": "+a.StatusReason)
					}
				}
			}
			if len(left) == 0 {
				return nil
			}
			step := fmt.Sprintf("Draining %s: %d apps left (%s)", n.Hostname, len(left), strings.Join(left, " "))
			if len(why) > 0 {
				step += "; waiting: " + strings.Join(why, "; ")
			}
			p.setStep(step)
		case ctx.Err() == nil:
			return err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return withHint(fmt.Errorf("node %s still runs %s after %s", n.Hostname, strings.Join(left, " "), opts.WaitTimeout),
					"see why with gasper app info APP; the drain goes on in the master")
			}
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// runsOn reports whether an instance of a runs on the node.
func runsOn(a api.App, nodeID string) bool {
	for _, in := range a.Instances {
		if in.Node == nodeID {
			return true
		}
	}
	return false
}
