package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gasper/api"
	"gasper/internal/config"
	"gasper/master"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(args []string) int {
	var cfg master.Config
	var configFile, logFormat, logLevel, appMemory, dbMemory, minFreeDisk, debugListen string
	cmd := &cobra.Command{
		Use:   "gasper-master",
		Short: "Run the Gasper master: REST API, agent tunnel, node registry, state",
		Long: `gasper-master runs Gasper's control plane.

Every flag can also be set as a GASPER_* environment variable (--data-dir is
GASPER_DATA_DIR) or as a key in the YAML file named by --config (data_dir).
Flags win over the environment, which wins over the file.

On the first start it creates the admin account: the password is
GASPER_ADMIN_PASSWORD, or a generated one written to DATA_DIR/admin-password.`,
		Version:       version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Apply(cmd.Flags(), configFile, "config"); err != nil {
				return err
			}
			log, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if cfg.AppMemory, err = api.ParseSize(appMemory); err != nil {
				return fmt.Errorf("--app-memory: %w", err)
			}
			if cfg.DBMemory, err = api.ParseSize(dbMemory); err != nil {
				return fmt.Errorf("--db-memory: %w", err)
			}
			if cfg.MinFreeDisk, err = api.ParseSize(minFreeDisk); err != nil {
				return fmt.Errorf("--min-free-disk: %w", err)
			}
			if debugListen != "" {
				if err := serveDebug(debugListen, log); err != nil {
					return err
				}
			}
			cfg.Version = version
			cfg.AdminPassword = os.Getenv("GASPER_ADMIN_PASSWORD")
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return master.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", os.Getenv("GASPER_CONFIG"), "YAML config file (env GASPER_CONFIG)")
	f.StringVar(&cfg.DataDir, "data-dir", "/var/lib/gasper/master", "directory for the database, keys and the tunnel CA")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:7080", "address of the REST API (plain HTTP)")
	f.StringVar(&cfg.TunnelListen, "tunnel-listen", ":7443", "address of the agents' TLS tunnel")
	f.StringVar(&cfg.TunnelAdvertise, "tunnel-advertise", "", "host:port agents dial (default: hostname and the tunnel port)")
	f.StringVar(&cfg.AdminEmail, "admin-email", "admin@gasper.local", "email of the admin created on the first start")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", time.Second, "how often agents send heartbeats")
	f.DurationVar(&cfg.HeartbeatGrace, "heartbeat-grace", 5*time.Second, "silence after which a node is down")
	f.DurationVar(&cfg.AccessTTL, "access-ttl", 15*time.Minute, "lifetime of access tokens")
	f.DurationVar(&cfg.RefreshTTL, "refresh-ttl", 30*24*time.Hour, "lifetime of login sessions")
	f.DurationVar(&cfg.JoinTokenTTL, "join-token-ttl", 24*time.Hour, "default lifetime of join tokens")
	f.StringVar(&cfg.Domain, "domain", "gasper.internal", "cloud domain: app NAME answers at NAME.DOMAIN")
	f.DurationVar(&cfg.DNSTTL, "dns-ttl", 5*time.Second, "TTL of the DNS role's answers")
	f.StringVar(&cfg.ACMEDirectory, "acme-directory", "", "ACME directory URL custom domains get certificates from (empty: none)")
	f.StringVar(&cfg.ACMEEmail, "acme-email", "", "contact email of the ACME account")
	f.StringVar(&cfg.ACMERoot, "acme-root", "", "PEM file with the ACME server's root, for a private ACME server")
	f.StringVar(&debugListen, "debug-listen", "", "address to serve Go profiles (net/http/pprof) on, e.g. 127.0.0.1:6060 (empty: off)")
	f.StringVar(&appMemory, "app-memory", "256M", "memory limit of apps that ask for none")
	f.Float64Var(&cfg.AppCPUs, "app-cpus", 0.5, "CPU quota (cores) of apps that ask for none")
	f.StringVar(&dbMemory, "db-memory", "256M", "memory limit of databases that ask for none")
	f.StringToStringVar(&cfg.DBImages, "db-image", nil, "ENGINE=REFERENCE: run the databases of ENGINE from this image instead of the built one; it must carry the engine's scripts (docs/databases.md)")
	f.Float64Var(&cfg.DBCPUs, "db-cpus", 1, "CPU quota (cores) of database servers (0: none)")
	f.StringVar(&minFreeDisk, "min-free-disk", "1G", "an app node with less free disk takes no new replica")
	f.Float64Var(&cfg.CPUOvercommit, "cpu-overcommit", 4, "a node takes apps and databases requesting up to its cores times this many CPUs (1: no overcommit)")
	f.StringVar(&logFormat, "log-format", "", "text or json (default: text on a terminal, json otherwise)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gasper-master:", err)
		return 1
	}
	return 0
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	if format == "" {
		format = "json"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
