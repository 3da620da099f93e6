package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appUpdateOptions struct {
	g *globalOptions

	Name          string
	AppFlag       string
	Runtime       string
	BuildCmd      string
	StartCmd      string
	Port          int
	Memory        string
	CPU           float64
	HealthPath    string
	HealthTCP     bool
	RedirectHTTPS string // "", "true" or "false"
	NoWait        bool
	WaitTimeout   time.Duration
	JSON          bool
}

func newCmdAppUpdate(g *globalOptions, runF func(*appUpdateOptions) error) *cobra.Command {
	opts := &appUpdateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change an app's settings (limits, port, commands, health check, HTTPS redirect)",
		Long: `Change an app's settings and roll out a new release with them. A new runtime or
build command rebuilds; anything else reuses the current image. Only the flags
given change.`,
		Example: "  gasper app update web --memory 512M --cpu 1\n  gasper app update web --redirect-https=true",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if opts.RedirectHTTPS != "" && opts.RedirectHTTPS != "true" && opts.RedirectHTTPS != "false" {
				return usageErrorf("--redirect-https takes true or false")
			}
			if opts.HealthTCP && opts.HealthPath != "" {
				return usageErrorf("--health-path and --health-tcp exclude each other")
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppUpdate(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Runtime, "runtime", "", "runtime (rebuilds)")
	f.StringVar(&opts.BuildCmd, "build-cmd", "", "build command (rebuilds)")
	f.StringVar(&opts.StartCmd, "start-cmd", "", "start command")
	f.IntVar(&opts.Port, "port", 0, "port the app listens on (its PORT)")
	f.StringVar(&opts.Memory, "memory", "", "memory limit: 256M, 1G, 512Mi or bytes")
	f.Float64Var(&opts.CPU, "cpu", 0, "CPU limit in cores, e.g. 0.5")
	f.StringVar(&opts.HealthPath, "health-path", "", "check health with HTTP GET on this path")
	f.BoolVar(&opts.HealthTCP, "health-tcp", false, "check health by connecting to the port")
	f.StringVar(&opts.RedirectHTTPS, "redirect-https", "", "true: the proxies redirect plain HTTP to HTTPS; false: they do not")
	f.BoolVar(&opts.NoWait, "no-wait", false, "return once the master has the release")
	f.DurationVar(&opts.WaitTimeout, "wait-timeout", 5*time.Minute, "how long to wait for the app to run the release")
	f.BoolVar(&opts.JSON, "json", false, "print the app as JSON, once it runs, instead of its address")
	return appCommand(cmd, &opts.AppFlag)
}

func runAppUpdate(cmd *cobra.Command, opts *appUpdateOptions) error {
	req := api.UpdateAppRequest{AppConfig: api.AppConfig{Runtime: opts.Runtime, BuildCmd: opts.BuildCmd,
		StartCmd: opts.StartCmd, Port: opts.Port, CPUs: opts.CPU}}
	if opts.Memory != "" {
		m, err := parseMemory(opts.Memory)
		if err != nil {
			return usageErrorf("%s", err)
		}
		req.MemoryBytes = m
	}
	if opts.HealthTCP {
		req.Health = &api.HealthCheck{Type: "tcp"}
	} else if opts.HealthPath != "" {
		req.Health = &api.HealthCheck{Type: "http", Path: opts.HealthPath}
	}
	if opts.RedirectHTTPS != "" {
		v := opts.RedirectHTTPS == "true"
		req.RedirectHTTPS = &v
	}
	c, err := opts.g.client()
	if err != nil {
		return err
	}
	rel, err := c.UpdateApp(cmd.Context(), opts.Name, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.g.io.ErrOut, "Release %d of %s: %s\n", rel.Number, opts.Name, or(rel.Cause, "update"))
	r := &rollout{g: opts.g, c: c, app: opts.Name, release: rel.Number, build: rel.Status == api.ReleaseBuilding,
		noWait: opts.NoWait, waitTimeout: opts.WaitTimeout, json: opts.JSON}
	return r.run(cmd.Context())
}
