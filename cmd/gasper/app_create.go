package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gasper/api"
)

type appCreateOptions struct {
	g *globalOptions

	Name    string
	AppFlag string

	From          string
	Git           string
	Branch        string
	GitTokenStdin bool
	Empty         bool

	Runtime    string
	Env        []string
	EnvFile    string
	Memory     string
	CPU        float64
	BuildCmd   string
	StartCmd   string
	Port       int
	HealthPath string
	HealthTCP  bool
	Replicas   int

	NoWait      bool
	WaitTimeout time.Duration
	JSON        bool

	// Config and EnvSet are what the flags above parse into.
	Config api.AppConfig
	EnvSet map[string]string
}

func newCmdAppCreate(g *globalOptions, runF func(*appCreateOptions) error) *cobra.Command {
	opts := &appCreateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "create NAME (--from DIR | --git URL [--branch B] | --empty) [flags]",
		Short: "Create an app from a directory or a git repository, and deploy it",
		Long: `Create an app and deploy its first release.

With --from DIR the directory is packed (honouring .gitignore and
.gasperignore files, without .git) and uploaded; with --git URL the master
fetches the repository itself; with --empty nothing is deployed yet (deploy
later with git push or gasper app deploy). The build log is followed on
standard error, then the command waits until the app runs and prints its
address on standard output. The app's SSH command and git remote are shown
on standard error.`,
		Example: `  gasper app create web --from .
  gasper app create api --git https://example.com/team/api.git --branch main --env-file .env --memory 512M
  echo "$TOKEN" | gasper app create private --git https://example.com/team/p.git --git-token-stdin`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, err := takeApp(opts.AppFlag, args, 0, 0, "")
			if err != nil {
				return err
			}
			opts.Name = name
			if err := opts.parse(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runAppCreate(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.From, "from", "", "deploy this directory")
	f.StringVar(&opts.Git, "git", "", "deploy this git repository URL")
	f.StringVar(&opts.Branch, "branch", "", "git branch (default: the repository's default)")
	f.BoolVar(&opts.GitTokenStdin, "git-token-stdin", false, "read a git access token from standard input (stored encrypted)")
	f.BoolVar(&opts.Empty, "empty", false, "create the app without deploying it (deploy later with git push)")
	addAppConfigFlags(cmd, &opts.Runtime, &opts.Memory, &opts.CPU, &opts.BuildCmd, &opts.StartCmd, &opts.Port, &opts.HealthPath, &opts.HealthTCP)
	f.StringArrayVarP(&opts.Env, "env", "e", nil, "set an environment variable KEY=VALUE (repeatable)")
	f.StringVar(&opts.EnvFile, "env-file", "", "read environment variables from a .env file (--env wins)")
	f.IntVar(&opts.Replicas, "replicas", 1, "how many instances run, spread across nodes (0 to 100)")
	addWaitFlags(cmd, &opts.NoWait, &opts.WaitTimeout, &opts.JSON)
	return appCommand(cmd, &opts.AppFlag)
}

// addAppConfigFlags adds the flags that choose an app's config.
func addAppConfigFlags(cmd *cobra.Command, runtime, memory *string, cpu *float64, buildCmd, startCmd *string, port *int, healthPath *string, healthTCP *bool) {
	f := cmd.Flags()
	f.StringVar(runtime, "runtime", "", "runtime: "+strings.Join(api.Runtimes, ", ")+" (default: detected from the source)")
	f.StringVar(memory, "memory", "", "memory limit: 256M, 1G, 512Mi or bytes (default: the master's)")
	f.Float64Var(cpu, "cpu", 0, "CPU limit in cores, e.g. 0.5 (default: the master's)")
	f.StringVar(buildCmd, "build-cmd", "", "build command, instead of the runtime's (run with sh -c)")
	f.StringVar(startCmd, "start-cmd", "", "start command, instead of the runtime's (run with sh -c)")
	f.IntVar(port, "port", 0, "port the app listens on, given to it as PORT (default: the runtime's)")
	f.StringVar(healthPath, "health-path", "", "check health with HTTP GET on this path (default: /)")
	f.BoolVar(healthTCP, "health-tcp", false, "check health by connecting to the port, not over HTTP")
}

// addWaitFlags adds the flags of commands that wait for a rollout.
func addWaitFlags(cmd *cobra.Command, noWait *bool, timeout *time.Duration, json *bool) {
	f := cmd.Flags()
	f.BoolVar(noWait, "no-wait", false, "return once the master has the release, without following it")
	f.DurationVar(timeout, "wait-timeout", defaultWaitTimeout, "how long to wait, after the build, for the app to run")
	f.BoolVar(json, "json", false, "print the app as JSON, once it runs, instead of its address")
}

// parse checks the flags and turns them into Config and EnvSet.
func (o *appCreateOptions) parse(cmd *cobra.Command) error {
	switch {
	case o.From != "" && o.Git != "":
		return usageErrorf("--from and --git exclude each other")
	case o.Empty && (o.From != "" || o.Git != ""):
		return usageErrorf("--empty deploys nothing: leave out --from and --git")
	case o.From == "" && o.Git == "" && !o.Empty:
		e := usageErrorf("nothing to deploy: give --from DIR, --git URL or --empty")
		e.hint = "deploy the current directory with: gasper app create " + o.Name + " --from ."
		return e
	case o.Git == "" && (o.Branch != "" || o.GitTokenStdin):
		return usageErrorf("--branch and --git-token-stdin need --git")
	}
	if o.WaitTimeout <= 0 {
		return usageErrorf("--wait-timeout must be positive")
	}
	if o.Replicas < 0 || o.Replicas > 100 {
		return usageErrorf("--replicas %d: give a number from 0 to 100", o.Replicas)
	}
	cfg, err := parseAppConfig(cmd, o.Runtime, o.Memory, o.CPU, o.BuildCmd, o.StartCmd, o.Port, o.HealthPath, o.HealthTCP)
	if err != nil {
		return err
	}
	o.Config = cfg
	if len(o.Env) > 0 {
		o.EnvSet = map[string]string{}
	}
	for _, kv := range o.Env {
		k, v, err := parseEnvPair(kv)
		if err != nil {
			return usageErrorf("--env: %v", err)
		}
		o.EnvSet[k] = v
	}
	return nil
}

// parseAppConfig checks the config flags and returns the config they ask
// for; flags not given stay zero (the master's or runtime's default).
func parseAppConfig(cmd *cobra.Command, runtime, memory string, cpu float64, buildCmd, startCmd string, port int, healthPath string, healthTCP bool) (api.AppConfig, error) {
	cfg := api.AppConfig{Runtime: runtime, BuildCmd: buildCmd, StartCmd: startCmd, Port: port, CPUs: cpu}
	if runtime != "" && !slices.Contains(api.Runtimes, runtime) {
		return cfg, usageErrorf("unknown runtime %q (runtimes: %s)", runtime, strings.Join(api.Runtimes, ", "))
	}
	if memory != "" {
		n, err := parseMemory(memory)
		if err != nil {
			return cfg, usageErrorf("--memory: %v", err)
		}
		if n < minMemory {
			e := usageErrorf("--memory %s is %d bytes, too little to run anything", memory, n)
			e.hint = "a number without a unit is bytes; did you mean " + memory + "M?"
			return cfg, e
		}
		cfg.MemoryBytes = n
	}
	if cmd.Flags().Changed("cpu") && cpu <= 0 {
		return cfg, usageErrorf("--cpu must be more than 0")
	}
	if cmd.Flags().Changed("port") && (port < 1 || port > 65535) {
		return cfg, usageErrorf("--port must be between 1 and 65535")
	}
	switch {
	case healthTCP && healthPath != "":
		return cfg, usageErrorf("--health-path and --health-tcp exclude each other")
	case healthTCP:
		cfg.Health = &api.HealthCheck{Type: "tcp"}
	case healthPath != "":
		if !strings.HasPrefix(healthPath, "/") {
			return cfg, usageErrorf("--health-path must start with /")
		}
		cfg.Health = &api.HealthCheck{Type: "http", Path: healthPath}
	}
	return cfg, nil
}

func runAppCreate(cmd *cobra.Command, opts *appCreateOptions) error {
	ctx, g := cmd.Context(), opts.g
	req := api.CreateAppRequest{Name: opts.Name, AppConfig: opts.Config}
	if opts.Replicas != 1 {
		req.Replicas = &opts.Replicas
	}
	if opts.EnvFile != "" {
		env, err := readEnvFile(opts.EnvFile)
		if err != nil {
			return err
		}
		req.Env = env
	}
	for k, v := range opts.EnvSet {
		if req.Env == nil {
			req.Env = map[string]string{}
		}
		req.Env[k] = v
	}
	if opts.Git != "" {
		req.Git = &api.GitSource{URL: opts.Git, Branch: opts.Branch}
		if opts.GitTokenStdin {
			tok, err := g.io.ReadAll()
			if err != nil {
				return err
			}
			if tok == "" {
				return usageErrorf("--git-token-stdin: standard input is empty")
			}
			req.Git.Token = tok
		}
	}

	c, err := g.client()
	if err != nil {
		return err
	}
	// Pack before creating: a directory that cannot be deployed must not
	// leave an empty app behind.
	var src *packedSource
	if opts.From != "" {
		if src, err = packSource(g, opts.From); err != nil {
			return err
		}
		defer src.close()
	}
	a, err := c.CreateApp(ctx, req)
	if errors.Is(err, api.ErrConflict) {
		return withHint(err, "deploy a new release of an existing app with: gasper app deploy "+opts.Name+" --from DIR")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.io.ErrOut, "Created app %s\n", a.Name)
	printSSHAccess(ctx, g, c, a.Name)
	if opts.Empty {
		if opts.JSON {
			return printJSON(g.io.Out, a)
		}
		return nil
	}

	r := &rollout{g: g, c: c, app: a.Name, build: true, noWait: opts.NoWait, waitTimeout: opts.WaitTimeout, json: opts.JSON}
	if src != nil {
		rel, err := c.UploadSource(ctx, a.Name, src.File)
		if err != nil {
			err = uploadError(err, a.Name)
			var ce *cliError
			if !errors.As(err, &ce) {
				err = withHint(err, "the app exists now; upload its source with: gasper app deploy "+a.Name+" --from "+opts.From)
			}
			return err
		}
		r.release = rel.Number
	} else {
		// A git app's first release is building already; find its number.
		rels, err := c.Releases(ctx, a.Name)
		if err != nil {
			return err
		}
		if len(rels) > 0 {
			r.release = rels[0].Number
		}
	}
	return r.run(ctx)
}

// uploadError explains a failed upload.
func uploadError(err error, app string) error {
	if errors.Is(err, api.ErrTooLarge) {
		return withHint(fmt.Errorf("upload the source of %s: %w", app, err),
			"leave out what the build does not need with a .gasperignore file")
	}
	return err
}
