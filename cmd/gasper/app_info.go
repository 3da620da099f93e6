package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appInfoOptions struct {
	g *globalOptions

	Name    string
	AppFlag string
	JSON    bool
}

func newCmdAppInfo(g *globalOptions, runF func(*appInfoOptions) error) *cobra.Command {
	opts := &appInfoOptions{g: g}
	cmd := &cobra.Command{
		Use:   "info NAME [--json]",
		Short: "Show an app: status, config, instances",
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
			return runAppInfo(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the app as JSON")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppInfo(cmd *cobra.Command, opts *appInfoOptions) error {
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	a, err := c.App(cmd.Context(), opts.Name)
	if err != nil {
		return err
	}
	out := opts.g.io.Out
	if opts.JSON {
		return printJSON(out, a)
	}
	now := opts.g.now()
	cfg := a.Config
	source := "directory upload"
	if a.Git != nil {
		source = "git " + a.Git.URL
		if a.Git.Branch != "" {
			source += " (branch " + a.Git.Branch + ")"
		}
		if a.Git.HasToken {
			source += ", with a token"
		}
	}
	env := "-"
	if len(a.EnvNames) > 0 {
		env = strings.Join(a.EnvNames, ", ")
	}
	if err := keyValues(out,
		"Name", a.Name,
		"Owner", a.Owner,
		"Status", describeStatus(a),
		"Release", releaseLabel(a.Release),
		"Replicas", fmt.Sprintf("%d wanted, %d running", a.Replicas, a.Running),
		"Node", or(a.NodeName, "-"),
		"Placement", or(a.Placement, "-"),
		"Address", addressLabel(a.Address),
		"URLs", or(strings.Join(a.URLs, " "), "-"),
		"Source", source,
		"Runtime", or(a.Runtime, runtimeLabel(cfg.Runtime)),
		"Build command", or(cfg.BuildCmd, "(runtime's)"),
		"Start command", or(cfg.StartCmd, "(runtime's)"),
		"Port", portLabel(cfg.Port),
		"Memory", memoryLabel(cfg.MemoryBytes),
		"CPUs", cpuLabel(cfg.CPUs),
		"Health check", healthLabel(cfg.Health),
		"Environment", env,
		"Created", timestamp(a.CreatedAt),
		"Updated", ago(now, a.UpdatedAt)+" ("+timestamp(a.UpdatedAt)+")",
	); err != nil {
		return err
	}
	if len(a.Instances) == 0 {
		_, err := fmt.Fprintln(out, "\nNo instances.")
		return err
	}
	fmt.Fprintln(out, "\nInstances:")
	t := newTable(out, "ID", "NODE", "ADDRESS", "RELEASE", "STATE", "RESTARTS", "EXIT", "OOM", "STARTED")
	for _, in := range a.Instances {
		started := "-"
		if in.StartedAt != nil {
			started = ago(now, *in.StartedAt)
		}
		exit := "-"
		if in.ExitCode != 0 {
			exit = strconv.Itoa(in.ExitCode)
		}
		t.row(in.ID, nodeLabel(in), or(in.Address, "-"), strconv.Itoa(in.Release), in.State,
			strconv.Itoa(in.Restarts), exit, yesNo(in.OOMKilled), started)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, in := range a.Instances {
		if in.LastLog != "" {
			fmt.Fprintf(out, "\nLast lines of %s:\n%s\n", in.ID, indent(in.LastLog, "  "))
		}
	}
	return nil
}

func portLabel(p int) string {
	if p == 0 {
		return "(runtime's)"
	}
	return strconv.Itoa(p)
}

func memoryLabel(n int64) string {
	if n == 0 {
		return "(master's default)"
	}
	return humanBytes(uint64(n))
}

func cpuLabel(c float64) string {
	if c == 0 {
		return "(master's default)"
	}
	return strconv.FormatFloat(c, 'f', -1, 64)
}

func healthLabel(h *api.HealthCheck) string {
	switch {
	case h == nil:
		return "HTTP GET /"
	case h.Type == "tcp":
		return "TCP connect"
	default:
		return "HTTP GET " + or(h.Path, "/")
	}
}
