package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"gasper/api"
	"gasper/master/apps"
	"gasper/master/auth"
	"gasper/master/dbs"
	"gasper/master/httpapi"
	"gasper/master/nodes"
	"gasper/master/pki"
	"gasper/master/remote"
	"gasper/master/routing"
	"gasper/master/secrets"
	"gasper/master/store"
	"gasper/master/tunnel"
	"gasper/proto"
)

// Config configures gasper-master. cmd/gasper-master fills it from flags,
// GASPER_* environment variables and a YAML file.
type Config struct {
	// DataDir holds the database, keys, the tunnel CA and the admin password file.
	DataDir string
	// Listen is the REST API's address (plain HTTP).
	Listen string
	// TunnelListen is the agents' TLS tunnel address.
	TunnelListen string
	// TunnelAdvertise is the host:port agents dial; shown with join tokens
	// and added to the tunnel certificate. Default: hostname and tunnel port.
	TunnelAdvertise string
	// AdminEmail is the first admin's email, used on the first start only.
	AdminEmail string
	// AdminPassword is the first admin's password, used on the first start
	// only; empty generates one into DataDir/admin-password.
	AdminPassword string
	// HeartbeatInterval is how often agents send heartbeats.
	HeartbeatInterval time.Duration
	// HeartbeatGrace is how long a silent node stays ready before it is down.
	HeartbeatGrace time.Duration
	// AccessTTL is the lifetime of access tokens (JWTs).
	AccessTTL time.Duration
	// RefreshTTL is the lifetime of login sessions' refresh tokens.
	RefreshTTL time.Duration
	// JoinTokenTTL is the default lifetime of join tokens.
	JoinTokenTTL time.Duration
	// Domain is the cloud domain: app NAME answers at NAME.Domain.
	Domain string
	// DNSTTL is the TTL of the DNS role's answers.
	DNSTTL time.Duration
	// ACMEDirectory, if set, is the ACME server custom domains get
	// certificates from; ACMEEmail is the account's contact and ACMERoot a
	// PEM file with the ACME server's own root (for a private server).
	ACMEDirectory string
	ACMEEmail     string
	ACMERoot      string
	// AppMemory and AppCPUs are the limits of apps that ask for none.
	AppMemory int64
	AppCPUs   float64
	// DBMemory and DBCPUs are the limits of database servers (memory: unless one asks).
	DBMemory int64
	// DBImages maps engines to image references that replace their built images (see
	// docs/databases.md for what such an image must carry).
	DBImages map[string]string
	DBCPUs   float64
	// MinFreeDisk: an app node with less free disk takes no new replica.
	// CPUOvercommit: a node takes apps and databases requesting up to its
	// cores times this many CPUs (default 4; 1 makes CPUs reservations).
	MinFreeDisk   int64
	CPUOvercommit float64
	// Version is reported by the health endpoint.
	Version string
	// Logger receives the master's logs.
	Logger *slog.Logger
}

// Validate checks c and fills in derived defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is required (--data-dir)"))
	}
	for name, addr := range map[string]string{"--listen": c.Listen, "--tunnel-listen": c.TunnelListen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port (like 127.0.0.1:7080 or :7443)", name, addr))
		}
	}
	if c.HeartbeatInterval < 50*time.Millisecond {
		errs = append(errs, fmt.Errorf("--heartbeat-interval %s is too short: use at least 50ms", c.HeartbeatInterval))
	}
	if c.HeartbeatGrace < 2*c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("--heartbeat-grace %s must be at least twice the interval (%s), or one lost heartbeat marks a node down", c.HeartbeatGrace, c.HeartbeatInterval))
	}
	if c.AccessTTL < time.Minute || c.RefreshTTL < c.AccessTTL || c.JoinTokenTTL <= 0 {
		errs = append(errs, errors.New("token lifetimes: access at least 1m, refresh at least the access lifetime, join tokens positive"))
	}
	if err := httpapi.ValidEmail(c.AdminEmail); err != nil {
		errs = append(errs, fmt.Errorf("--admin-email: %w", err))
	}
	if c.TunnelAdvertise == "" {
		_, port, _ := net.SplitHostPort(c.TunnelListen)
		host, _ := os.Hostname()
		c.TunnelAdvertise = net.JoinHostPort(host, port)
	}
	if err := api.ValidDomain(c.Domain); err != nil {
		errs = append(errs, fmt.Errorf("--domain: %w", err))
	}
	if c.DNSTTL < time.Second || c.DNSTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--dns-ttl %s: use 1s to 24h", c.DNSTTL))
	}
	if c.AppMemory < 16<<20 || c.AppCPUs <= 0 {
		errs = append(errs, errors.New("--app-memory must be at least 16M and --app-cpus positive"))
	}
	if c.DBMemory == 0 {
		c.DBMemory = 256 << 20
	}
	for engine, ref := range c.DBImages {
		if !slices.Contains(api.Engines, engine) || ref == "" || strings.ContainsAny(ref, " \t\n") {
			errs = append(errs, fmt.Errorf("--db-image %s=%s: use ENGINE=REFERENCE with ENGINE one of %s", engine, ref, strings.Join(api.Engines, ", ")))
		}
	}
	if c.DBMemory < 64<<20 || c.DBCPUs < 0 {
		errs = append(errs, errors.New("--db-memory must be at least 64M and --db-cpus not negative"))
	}
	if c.CPUOvercommit == 0 {
		c.CPUOvercommit = 4
	}
	if c.CPUOvercommit < 1 || c.CPUOvercommit > 100 || c.MinFreeDisk < 0 {
		errs = append(errs, errors.New("--cpu-overcommit must be 1 to 100 and --min-free-disk not negative"))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// Run starts the master and blocks until ctx ends, then shuts down.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	st, err := store.Open(ctx, filepath.Join(cfg.DataDir, "gasper.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bootstrapAdmin(ctx, st, cfg, log); err != nil {
		return err
	}
	key, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "jwt.key"))
	if err != nil {
		return err
	}
	signer, err := auth.NewSigner(key)
	if err != nil {
		return err
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(cfg.DataDir, "tunnel-ca"))
	if err != nil {
		return fmt.Errorf("load tunnel CA: %w", err)
	}
	advHost, _, _ := net.SplitHostPort(cfg.TunnelAdvertise)
	tlsConf, err := ca.ServerTLSConfig(advHost)
	if err != nil {
		return fmt.Errorf("make tunnel certificate: %w", err)
	}
	var onReturn func(nodeID string) // set once the services exist
	var appsvc *apps.Service
	reg, err := nodes.New(ctx, nodes.Config{
		Store: st, CACertDER: ca.CertDER(), Interval: cfg.HeartbeatInterval, Grace: cfg.HeartbeatGrace, Logger: log,
		OnReturn: func(nodeID string) { onReturn(nodeID) },
		OnChange: func() { appsvc.Wake() }, // nodes are written only once the services run
	})
	if err != nil {
		return err
	}
	box, err := secrets.LoadOrCreate(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return err
	}
	sources, err := apps.NewSources(filepath.Join(cfg.DataDir, "sources"))
	if err != nil {
		return err
	}
	cloudCA, err := pki.LoadOrCreateNamedCA(filepath.Join(cfg.DataDir, "cloud-ca"), "Gasper cloud CA")
	if err != nil {
		return fmt.Errorf("load the cloud CA: %w", err)
	}
	var acme *proto.ACME
	if cfg.ACMEDirectory != "" {
		acme = &proto.ACME{DirectoryURL: cfg.ACMEDirectory, Email: cfg.ACMEEmail}
		if cfg.ACMERoot != "" {
			b, err := os.ReadFile(cfg.ACMERoot)
			if err != nil {
				return fmt.Errorf("--acme-root: %w", err)
			}
			acme.RootPEM = string(b)
		}
	}
	var dbsvc *dbs.Service
	var router *routing.Router
	var remotes *remote.Service
	tun := tunnel.New(tunnel.Config{
		TLS: tlsConf, Authority: reg,
		Handler: func(nodeID string) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/v1/heartbeat", reg.Handler(nodeID))
			appsvc.Register(mux, nodeID)
			dbsvc.Register(mux, nodeID)
			remotes.Register(mux, nodeID)
			return mux
		},
		OnConnect: func(nodeID string, facts proto.Facts) {
			reg.Connected(nodeID, facts)
			appsvc.NodeConnected(nodeID, facts)
			dbsvc.NodeConnected(nodeID, facts)
			router.NodeConnected(nodeID, facts)
		},
		OnDisconnect:      reg.Disconnected,
		HeartbeatInterval: cfg.HeartbeatInterval, Logger: log,
	})
	appsvc = apps.New(apps.Config{Store: st, Box: box, Sources: sources, Nodes: reg, Tunnel: tun, Domain: cfg.Domain,
		DefaultMemory: cfg.AppMemory, DefaultCPUs: cfg.AppCPUs, DefaultDBMemory: cfg.DBMemory, Logger: log,
		DefaultDBCPUs: cfg.DBCPUs, MinFreeDisk: cfg.MinFreeDisk, CPUOvercommit: cfg.CPUOvercommit,
		OnChange: func() { router.Kick() }})
	remotes = remote.New(remote.Config{Store: st, Apps: appsvc, Nodes: reg, Tunnel: tun, Logger: log})
	dbsvc, err = dbs.New(dbs.Config{Store: st, Box: box, Nodes: reg, Tunnel: tun, Apps: appsvc, Domain: cfg.Domain,
		DefaultMemory: cfg.DBMemory, DefaultCPUs: cfg.DBCPUs, Images: cfg.DBImages, Allocated: appsvc.Allocated, BackupDir: filepath.Join(cfg.DataDir, "backups"), Logger: log,
		OnChange: func() { router.Kick() }})
	if err != nil {
		return err
	}
	router, err = routing.New(routing.Config{Apps: appsvc, Records: dbsvc.Records, Nodes: reg, Tunnel: tun, Domain: cfg.Domain,
		TTL: uint32(cfg.DNSTTL / time.Second), CA: cloudCA, MasterHost: advHost, ACME: acme, Logger: log,
		Hold: warmingUp(ctx, reg, appsvc, cfg.HeartbeatGrace),
		Certificates: func(ctx context.Context) ([]proto.Certificate, error) {
			cs, err := st.Certificates(ctx)
			out := make([]proto.Certificate, 0, len(cs))
			for _, c := range cs {
				key, kerr := box.Open(c.KeySealed)
				if kerr != nil {
					return nil, kerr
				}
				out = append(out, proto.Certificate{Hosts: c.Hosts, CertPEM: c.CertPEM, KeyPEM: string(key)})
			}
			return out, err
		}})
	if err != nil {
		return err
	}
	onReturn = func(nodeID string) { rejoin(ctx, reg, appsvc, router, log, nodeID) }
	apiServer := httpapi.New(httpapi.Config{
		Store: st, Signer: signer, Nodes: reg, Apps: appsvc, DBs: dbsvc, Remote: remotes, Tunnel: tun, TunnelAddr: cfg.TunnelAdvertise, CloudCA: cloudCA.CertPEM(), Box: box,
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, JoinTokenTTL: cfg.JoinTokenTTL,
		Version: cfg.Version, Logger: log,
	})

	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", cfg.Listen, err)
	}
	tunLn, err := net.Listen("tcp", cfg.TunnelListen)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("listen for agents on %s: %w", cfg.TunnelListen, err)
	}
	srv := &http.Server{
		Handler:           apiServer,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("master started", "api", apiLn.Addr().String(), "tunnel", tunLn.Addr().String(),
		"tunnel_advertise", cfg.TunnelAdvertise, "data_dir", cfg.DataDir, "version", cfg.Version)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
			cancel()
		}()
	}
	run("node registry", func() error { return reg.Run(ctx) })
	run("apps", func() error { return appsvc.Run(ctx) })
	run("databases", func() error { return dbsvc.Run(ctx) })
	run("routing", func() error { return router.Run(ctx) })
	run("tunnel", func() error { return tun.Serve(ctx, tunLn) })
	run("api", func() error {
		if err := srv.Serve(apiLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	<-ctx.Done()
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	srv.Shutdown(shutCtx)
	wg.Wait()
	close(errc)
	log.Info("master stopped")
	return <-errc
}

// bootstrapAdmin creates the first admin when there are no users. Its
// password comes from the config or is generated and written, once, to a
// file only root can read; it is never logged.
func bootstrapAdmin(ctx context.Context, st *store.Store, cfg Config, log *slog.Logger) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := cfg.AdminPassword
	file := filepath.Join(cfg.DataDir, "admin-password")
	if password == "" {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			password = string(b)
		} else {
			password = auth.Secret(18)
			if err := os.WriteFile(file, []byte(password), 0o600); err != nil {
				return fmt.Errorf("write admin password file: %w", err)
			}
		}
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("admin password (GASPER_ADMIN_PASSWORD): %w", err)
	}
	if _, err := st.CreateUser(ctx, cfg.AdminEmail, hash, true); err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	st.Audit(ctx, "system", "user.create", cfg.AdminEmail, "admin=true bootstrap")
	where := "from GASPER_ADMIN_PASSWORD"
	if cfg.AdminPassword == "" {
		where = "in " + file
	}
	log.Info("created the admin account", "email", cfg.AdminEmail, "password", where)
	return nil
}
