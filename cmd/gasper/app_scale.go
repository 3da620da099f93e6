package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appScaleOptions struct {
	g *globalOptions

	Name        string
	AppFlag     string
	Replicas    int
	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool
}

func newCmdAppScale(g *globalOptions, runF func(*appScaleOptions) error) *cobra.Command {
	opts := &appScaleOptions{g: g}
	cmd := &cobra.Command{
		Use:   "scale NAME N [--no-wait] [--json]",
		Short: "Set how many replicas of an app run",
		Long: `Set how many instances (replicas) of an app run, from 0 to 100. Replicas go
on different nodes when there are enough, the node with the most free room
first; a node without the release's image builds it first. Scaling down
takes replicas out of the proxies' routes before they stop; 0 stops the app
(its releases stay). N may also be written web=N.

The command waits until the wanted replicas run (--no-wait: returns at once)
and prints the app's instances (--json: the app). Replicas that no node has
room for wait: the app's status reason says what is missing.`,
		Example: `  gasper app scale web 3
  gasper app scale -a web web=2
  gasper app scale web 0`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, rest, err := takeApp(opts.AppFlag, args, 1, 1, "N (how many replicas)")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.Replicas, err = parseReplicas(rest[0]); err != nil {
				return err
			}
			if opts.WaitTimeout <= 0 {
				return usageErrorf("--wait-timeout must be positive")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppScale(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.NoWait, "no-wait", false, "return once the master has the new count")
	f.DurationVar(&opts.WaitTimeout, "wait-timeout", 5*time.Minute, "how long to wait for the replicas to run")
	f.BoolVar(&opts.JSON, "json", false, "print the app as JSON")
	return appCommand(cmd, &opts.AppFlag)
}

// parseReplicas reads N or web=N (the form other platforms use).
func parseReplicas(s string) (int, error) {
	if kind, n, ok := strings.Cut(s, "="); ok {
		if kind != "web" {
			return 0, usageErrorf("only web instances scale: write web=%s, or just %s", n, n)
		}
		s = n
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 100 {
		return 0, usageErrorf("replicas %q: give a number from 0 to 100", s)
	}
	return n, nil
}

func runAppScale(cmd *cobra.Command, opts *appScaleOptions) error {
	ctx, g := cmd.Context(), opts.g
	c, err := g.client()
	if err != nil {
		return err
	}
	a, err := c.Scale(ctx, opts.Name, opts.Replicas)
	if err != nil {
		return err
	}
	if !opts.NoWait && a.Release > 0 {
		if a, err = waitScaled(ctx, opts); err != nil {
			return err
		}
	}
	if opts.JSON {
		return printJSON(g.io.Out, a)
	}
	fmt.Fprintf(g.io.ErrOut, "%s: %s replicas running\n", a.Name, replicasLabel(*a))
	if a.StatusReason != "" {
		fmt.Fprintf(g.io.ErrOut, "%s: %s\n", a.Status, a.StatusReason)
	}
	t := newTable(g.io.Out, "INSTANCE", "NODE", "ADDRESS", "RELEASE", "STATE")
	for _, in := range a.Instances {
		t.row(in.ID, nodeLabel(in), or(in.Address, "-"), strconv.Itoa(in.Release), in.State)
	}
	return t.flush()
}

// replicasLabel is "running/wanted".
func replicasLabel(a api.App) string { return fmt.Sprintf("%d/%d", a.Running, a.Replicas) }

// waitScaled polls the app until as many replicas as wanted run healthy and
// none is on its way out, or until only replicas without room are left.
func waitScaled(ctx context.Context, opts *appScaleOptions) (*api.App, error) {
	return opts.g.waitApp(ctx, appWait{name: opts.Name, timeout: opts.WaitTimeout, past: "scaled", noun: "the scaling",
		check: func(a *api.App) (bool, string) {
			if len(a.Instances) == a.Running && (a.Running == a.Replicas || (a.Running == len(a.Nodes) && a.Status != api.AppDeploying)) {
				return true, ""
			}
			return false, fmt.Sprintf("Scaling %s: %s replicas running, %d instances (%s)", a.Name, replicasLabel(*a), len(a.Instances), a.Status)
		}})
}
