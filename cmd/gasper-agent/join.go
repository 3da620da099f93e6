package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"gasper/agent"
)

// joinOptions are the join command's flags.
type joinOptions struct {
	master              string
	token               string
	roles               []string
	advertise           string
	stateDir            string
	name                string
	containerdSocket    string
	containerdNamespace string
	bridge              string
	subnet              string
	imageCache          string
	plainHTTP           []string
	proxyHTTP           string
	proxyHTTPS          string
	dnsAddr             string
	sshAddr             string
	sshIdleTimeout      time.Duration
	maxBuilds           int
	logFormat           string
	logLevel            string
	configFile          string
}

// newJoinCmd builds the join command. runF, if set, replaces the agent (tests
// use it to check flag parsing apart from behaviour).
func newJoinCmd(stderr io.Writer, runF func(context.Context, agent.Config) error) *cobra.Command {
	opts := &joinOptions{}
	if runF == nil {
		runF = agent.Run
	}
	cmd := &cobra.Command{
		Use:   "join MASTER_ADDR --token TOKEN --roles app,db,proxy,dns,ssh [flags]",
		Short: "Join the cluster (first run) or rejoin it (later runs), and keep the tunnel open",
		Long: `Join connects this node to the master's tunnel at MASTER_ADDR (host:port) and
keeps it open until interrupted. The first run needs a join token from
` + "`gasper node token`" + `; the node then keeps its identity in the state directory,
so a restarted agent runs the same command, with or without --token.

Every flag can also be set by a GASPER_* environment variable (--state-dir by
GASPER_STATE_DIR, the token by GASPER_JOIN_TOKEN, MASTER_ADDR by GASPER_MASTER)
or by a key of the same name in a YAML --config file. Flags win over the
environment, which wins over the file.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := opts.config(cmd, args, os.Getenv, stderr)
			if err != nil {
				return usageError{err}
			}
			return runF(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.token, "token", "", "join token from `gasper node token` (needed on first join only)")
	f.StringSliceVar(&opts.roles, "roles", nil, "roles of this node, comma-separated: app,db,proxy,dns,ssh")
	f.StringVar(&opts.advertise, "advertise", "", "address other nodes and proxies use to reach this node (default: the local address of the tunnel)")
	f.StringVar(&opts.stateDir, "state-dir", agent.DefaultStateDir, "directory for the node identity and state")
	f.StringVar(&opts.name, "name", "", "node name (default: the host name)")
	f.StringVar(&opts.containerdSocket, "containerd-socket", agent.DefaultContainerdSocket, "containerd socket")
	f.StringVar(&opts.containerdNamespace, "containerd-namespace", agent.DefaultContainerdNamespace, "containerd namespace for the node's containers and images")
	f.StringVar(&opts.bridge, "bridge", "gasper0", "name of this node's container bridge (each node on one machine needs its own)")
	f.StringVar(&opts.subnet, "subnet", "10.89.0.0/24", "this node's container subnet")
	f.StringVar(&opts.imageCache, "image-cache", "/var/lib/gasper/images", "directory of built images, shared by the agents of a machine")
	f.StringSliceVar(&opts.plainHTTP, "plain-http-registry", nil, "registry host:port to pull images from over plain HTTP (a private registry on a trusted network)")
	f.StringVar(&opts.proxyHTTP, "proxy-http-addr", "", "where the proxy role serves HTTP (default ADVERTISE:80)")
	f.StringVar(&opts.proxyHTTPS, "proxy-https-addr", "", "where the proxy role serves HTTPS (default ADVERTISE:443)")
	f.StringVar(&opts.dnsAddr, "dns-addr", "", "where the dns role answers, UDP and TCP (default ADVERTISE:53)")
	f.StringVar(&opts.sshAddr, "ssh-addr", "", "where the ssh role accepts users (default ADVERTISE:2222)")
	f.DurationVar(&opts.sshIdleTimeout, "ssh-idle-timeout", 30*time.Minute, "close SSH connections that carried nothing for this long")
	f.IntVar(&opts.maxBuilds, "max-builds", 2, "app image builds this node runs at once (a failover rebuilds several apps on each live node)")
	f.StringVar(&opts.logFormat, "log-format", "auto", "log format: auto (JSON unless stderr is a terminal), text or json")
	f.StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&opts.configFile, "config", "", "YAML file whose keys are these flags' names")
	return cmd
}

// config turns flags, environment and config file into an agent.Config.
func (o *joinOptions) config(cmd *cobra.Command, args []string, getenv func(string) string, stderr io.Writer) (agent.Config, error) {
	if !cmd.Flags().Changed("config") {
		o.configFile = getenv(envName("config"))
	}
	file, err := loadConfigFile(o.configFile)
	if err != nil {
		return agent.Config{}, err
	}
	if err := applyEnvAndFile(cmd.Flags(), getenv, file); err != nil {
		return agent.Config{}, err
	}
	switch {
	case len(args) == 1:
		o.master = args[0]
	case getenv("GASPER_MASTER") != "":
		o.master = getenv("GASPER_MASTER")
	case file["master"] != nil:
		o.master = fmt.Sprint(file["master"])
	}
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return agent.Config{}, err
	}
	cfg := agent.Config{
		Master:              o.master,
		JoinToken:           o.token,
		Roles:               o.roles,
		Advertise:           o.advertise,
		StateDir:            o.stateDir,
		Name:                o.name,
		ContainerdSocket:    o.containerdSocket,
		ContainerdNamespace: o.containerdNamespace,
		Bridge:              o.bridge,
		Subnet:              o.subnet,
		ImageCacheDir:       o.imageCache,
		PlainHTTPRegistries: o.plainHTTP,
		ProxyHTTPAddr:       o.proxyHTTP,
		ProxyHTTPSAddr:      o.proxyHTTPS,
		DNSAddr:             o.dnsAddr,
		SSHAddr:             o.sshAddr,
		SSHIdleTimeout:      o.sshIdleTimeout,
		MaxBuilds:           o.maxBuilds,
		Logger:              logger,
	}
	if err := cfg.Validate(); err != nil {
		return agent.Config{}, err
	}
	return cfg, nil
}
