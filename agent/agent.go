package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gasper/agent/apps"
	"gasper/agent/dbs"
	"gasper/agent/dns"
	"gasper/agent/machine"
	"gasper/agent/proxy"
	"gasper/agent/sshd"
	"gasper/agent/tunnel"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/internal/jointoken"
	"gasper/proto"
)

// Version is the agent's version, set at build time with
// -ldflags "-X gasper/agent.Version=...".
var Version = "dev"

// Defaults for Config.
const (
	DefaultStateDir            = "/var/lib/gasper/agent"
	DefaultContainerdSocket    = "/run/containerd/containerd.sock"
	DefaultContainerdNamespace = "gasper"
)

// Config configures an agent.
type Config struct {
	// Master is the host:port of the master's tunnel.
	Master string
	// JoinToken is needed only when StateDir holds no identity yet.
	JoinToken string
	// Roles are the roles this node takes (proto.AllRoles).
	Roles []string
	// Advertise is the address (IP or host name) other nodes and proxies use
	// to reach this node; empty means the local address of the tunnel
	// connection.
	Advertise string
	// StateDir holds identity.json (mode 0600) and the agent's other state.
	StateDir string
	// Name overrides the node's host name; default os.Hostname().
	Name string
	// ContainerdSocket is containerd's socket; default
	// /run/containerd/containerd.sock.
	ContainerdSocket string
	// ContainerdNamespace is the containerd namespace the agent works in;
	// default "gasper".
	ContainerdNamespace string
	// ContainerdTimeout bounds the first connection to containerd; default 5s.
	ContainerdTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between reconnects to the
	// master (exponential with full jitter); defaults 200ms and 2s.
	BackoffMin, BackoffMax time.Duration
	// Bridge and Subnet are this node's container network (CNI bridge name,
	// at most 15 characters, and its CIDR); each node on one machine needs
	// its own. Defaults "gasper0" and 10.89.0.0/24.
	Bridge string
	Subnet string
	// ImageCacheDir holds built images, shared by the agents of a machine;
	// default /var/lib/gasper/images.
	ImageCacheDir string
	// PlainHTTPRegistries are registry hosts images are pulled from over plain HTTP (a private
	// registry on a trusted network); every other registry is spoken to over TLS.
	PlainHTTPRegistries []string
	// ProxyHTTPAddr and ProxyHTTPSAddr are where the proxy role listens;
	// defaults ADVERTISE:80 and ADVERTISE:443.
	ProxyHTTPAddr  string
	ProxyHTTPSAddr string
	// DNSAddr is where the dns role listens (UDP and TCP); default
	// ADVERTISE:53.
	DNSAddr string
	// SSHAddr is where the ssh role listens; default ADVERTISE:2222.
	// SSHIdleTimeout closes SSH connections idle that long; default 30m.
	SSHAddr        string
	SSHIdleTimeout time.Duration
	// MaxBuilds is how many app image builds the app role runs at once;
	// default 2. More than one keeps a failover, which rebuilds several
	// apps on each live node at the same time, from queueing them.
	MaxBuilds int
	// Handler serves the master's calls beyond ping, facts and the roles'
	// own routes; nil answers 404.
	Handler http.Handler
	// Logger receives the agent's logs; default slog.Default().
	Logger *slog.Logger
}

// Validate checks the configuration and fills in defaults. Its errors say
// which setting is wrong and how to fix it.
func (c *Config) Validate() error {
	if c.Master == "" {
		return errors.New("the master address is required: gasper-agent join MASTER_HOST:PORT")
	}
	host, port, err := net.SplitHostPort(c.Master)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("the master address %q must be host:port (for example 10.0.0.1:7443)", c.Master)
	}
	if c.JoinToken != "" {
		if _, err := jointoken.Parse(c.JoinToken); err != nil {
			return err
		}
	}
	if len(c.Roles) == 0 {
		return fmt.Errorf("at least one role is required: --roles with any of %s", strings.Join(proto.AllRoles, ","))
	}
	seen := map[string]bool{}
	roles := c.Roles[:0:0]
	for _, r := range c.Roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if !slices.Contains(proto.AllRoles, r) {
			return fmt.Errorf("unknown role %q: roles are %s", r, strings.Join(proto.AllRoles, ","))
		}
		if !seen[r] {
			seen[r] = true
			roles = append(roles, r)
		}
	}
	c.Roles = roles
	if strings.ContainsAny(c.Advertise, " /") || strings.Contains(c.Advertise, "://") {
		return fmt.Errorf("the advertise address %q must be an IP address or host name, without scheme or port", c.Advertise)
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if !filepath.IsAbs(c.StateDir) {
		abs, err := filepath.Abs(c.StateDir)
		if err != nil {
			return fmt.Errorf("resolving the state directory: %w", err)
		}
		c.StateDir = abs
	}
	if c.Name == "" {
		name, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("reading the host name (set --name): %w", err)
		}
		c.Name = name
	}
	if c.ContainerdSocket == "" {
		c.ContainerdSocket = DefaultContainerdSocket
	}
	if c.ContainerdNamespace == "" {
		c.ContainerdNamespace = DefaultContainerdNamespace
	}
	if c.Bridge == "" {
		c.Bridge = "gasper0"
	}
	if len(c.Bridge) > 15 {
		return fmt.Errorf("the bridge name %q is longer than 15 characters", c.Bridge)
	}
	if c.Subnet == "" {
		c.Subnet = "10.89.0.0/24"
	}
	if _, _, err := net.ParseCIDR(c.Subnet); err != nil {
		return fmt.Errorf("the subnet %q is not a CIDR like 10.89.0.0/24", c.Subnet)
	}
	if c.ImageCacheDir == "" {
		c.ImageCacheDir = image.DefaultCacheDir
	}
	if c.MaxBuilds < 0 {
		return fmt.Errorf("--max-builds %d: use 1 or more (0 means the default, 2)", c.MaxBuilds)
	}
	if c.MaxBuilds == 0 {
		c.MaxBuilds = 2
	}
	if c.ContainerdTimeout <= 0 {
		c.ContainerdTimeout = 5 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 2 * time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		return fmt.Errorf("the reconnect backoff maximum %v is below its minimum %v", c.BackoffMax, c.BackoffMin)
	}
	for _, role := range []string{proto.RoleApp, proto.RoleProxy, proto.RoleDNS, proto.RoleSSH} {
		if slices.Contains(c.Roles, role) && net.ParseIP(c.Advertise) == nil {
			return fmt.Errorf("the %s role listens on the advertise address: --advertise must be this node's IP address, not %q", role, c.Advertise)
		}
	}
	if c.ProxyHTTPAddr == "" {
		c.ProxyHTTPAddr = net.JoinHostPort(c.Advertise, "80")
	}
	if c.ProxyHTTPSAddr == "" {
		c.ProxyHTTPSAddr = net.JoinHostPort(c.Advertise, "443")
	}
	if c.DNSAddr == "" {
		c.DNSAddr = net.JoinHostPort(c.Advertise, "53")
	}
	if c.SSHAddr == "" {
		c.SSHAddr = net.JoinHostPort(c.Advertise, "2222")
	}
	if _, _, err := net.SplitHostPort(c.SSHAddr); err != nil {
		return fmt.Errorf("the ssh address %q must be host:port (like 10.0.0.5:2222)", c.SSHAddr)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Run runs the agent until ctx ends (it then returns nil) or it cannot go on:
// containerd unreachable at start, or the master refusing the node for good.
// The error says which, and what to do.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("component", "agent")
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}

	ctrdVersion, err := containerdVersion(ctx, cfg.ContainerdSocket, cfg.ContainerdNamespace, cfg.ContainerdTimeout)
	if err != nil {
		return err
	}
	mf, err := machine.ReadFacts(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("reading this machine's facts: %w", err)
	}
	facts := proto.Facts{
		Hostname:          cfg.Name,
		Advertise:         cfg.Advertise,
		Roles:             cfg.Roles,
		CPUs:              mf.CPUs,
		MemoryBytes:       mf.MemoryBytes,
		DiskBytes:         mf.DiskBytes,
		ContainerdVersion: ctrdVersion,
		KernelVersion:     mf.KernelVersion,
		AgentVersion:      Version,
		OS:                mf.OS,
		Arch:              mf.Arch,
	}
	if slices.Contains(cfg.Roles, proto.RoleSSH) {
		facts.SSHAddr = sshAdvertise(cfg.SSHAddr, cfg.Advertise)
	}
	log.Info("starting", "version", Version, "master", cfg.Master, "roles", cfg.Roles, "containerd", ctrdVersion, "state_dir", cfg.StateDir)

	sampler := machine.NewSampler(cfg.StateDir)
	// Roles run until this context ends; when the tunnel gives up (a refused
	// node), cancel first, then wait for the roles, then close what they use.
	ctx, cancel := context.WithCancel(ctx)
	var cleanups []func()
	defer func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	var client *tunnel.Client
	var startLater []func()
	mux := http.NewServeMux()
	if cfg.Handler != nil {
		mux.Handle("/", cfg.Handler)
	}
	master := func() *http.Client { return client.HTTPClient() }
	var appMgr *apps.Manager
	if slices.Contains(cfg.Roles, proto.RoleApp) || slices.Contains(cfg.Roles, proto.RoleDB) {
		drv, imgs, err := startContainers(ctx, cfg)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { drv.Close() })
		// The managers report through the tunnel client: start them once that exists.
		if slices.Contains(cfg.Roles, proto.RoleApp) {
			mgr, err := apps.New(apps.Config{Driver: drv, Images: imgs, Master: master,
				StateDir: cfg.StateDir, Advertise: cfg.Advertise, Logger: cfg.Logger, MaxBuilds: cfg.MaxBuilds})
			if err != nil {
				return err
			}
			appMgr = mgr
			mgr.Register(mux)
			startLater = append(startLater, func() { go mgr.Run(ctx) })
		}
		if slices.Contains(cfg.Roles, proto.RoleDB) {
			mgr, err := dbs.New(dbs.Config{Driver: drv, Images: imgs, Master: master,
				StateDir: cfg.StateDir, Advertise: cfg.Advertise, Logger: cfg.Logger})
			if err != nil {
				return err
			}
			mgr.Register(mux)
			startLater = append(startLater, func() { go mgr.Run(ctx) })
		}
	}
	if slices.Contains(cfg.Roles, proto.RoleProxy) {
		p, err := proxy.New(proxy.Config{HTTPAddr: cfg.ProxyHTTPAddr, HTTPSAddr: cfg.ProxyHTTPSAddr,
			StateDir: filepath.Join(cfg.StateDir, "proxy"), Logger: cfg.Logger})
		if err != nil {
			return fmt.Errorf("proxy role: %w", err)
		}
		mux.HandleFunc("PUT "+proto.PathRoutes, func(w http.ResponseWriter, r *http.Request) {
			var t proto.RouteTable
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&t); err != nil {
				http.Error(w, "invalid route table: "+err.Error(), http.StatusBadRequest)
				return
			}
			if err := p.SetTable(t); err != nil && !errors.Is(err, proxy.ErrStaleTable) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		wait, err := serveRole(ctx, p.Run)
		if err != nil {
			return fmt.Errorf("proxy role on %s and %s: %w", cfg.ProxyHTTPAddr, cfg.ProxyHTTPSAddr, err)
		}
		cleanups = append(cleanups, wait)
	}
	if slices.Contains(cfg.Roles, proto.RoleDNS) {
		d, err := dns.New(dns.Config{Addr: cfg.DNSAddr, StateDir: filepath.Join(cfg.StateDir, "dns"), Logger: cfg.Logger})
		if err != nil {
			return fmt.Errorf("dns role: %w", err)
		}
		mux.HandleFunc("PUT "+proto.PathZone, func(w http.ResponseWriter, r *http.Request) {
			var z proto.Zone
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&z); err != nil {
				http.Error(w, "invalid zone: "+err.Error(), http.StatusBadRequest)
				return
			}
			if err := d.SetZone(z); err != nil && !errors.Is(err, dns.ErrStaleZone) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		wait, err := serveRole(ctx, d.Run)
		if err != nil {
			return fmt.Errorf("dns role on %s: %w", cfg.DNSAddr, err)
		}
		cleanups = append(cleanups, wait)
	}
	if slices.Contains(cfg.Roles, proto.RoleSSH) {
		sc := sshd.Config{Addr: cfg.SSHAddr, StateDir: filepath.Join(cfg.StateDir, "ssh"), IdleTimeout: cfg.SSHIdleTimeout,
			Master: func() *http.Client { return client.HTTPClient() }, NodeID: func() string { return client.NodeID() },
			Logger: cfg.Logger}
		if appMgr != nil {
			sc.Local = appMgr.ServeExec
		}
		srv, err := sshd.New(sc)
		if err != nil {
			return err
		}
		wait, err := serveRole(ctx, srv.Run)
		if err != nil {
			return fmt.Errorf("ssh role on %s: %w", cfg.SSHAddr, err)
		}
		cleanups = append(cleanups, wait)
	}
	client, err = tunnel.NewClient(tunnel.Config{
		Master:     cfg.Master,
		JoinToken:  cfg.JoinToken,
		StateDir:   cfg.StateDir,
		Facts:      func() proto.Facts { return facts },
		Usage:      func() proto.Usage { return usage(sampler.Sample()) },
		Handler:    mux,
		BackoffMin: cfg.BackoffMin,
		BackoffMax: cfg.BackoffMax,
		Logger:     cfg.Logger,
		OnHeartbeat: func(rtt time.Duration, ack proto.HeartbeatAck) {
			log.Debug("heartbeat acknowledged", "seq", ack.Seq, "rtt", rtt, "state", ack.State)
		},
	})
	if err != nil {
		return err
	}
	for _, start := range startLater {
		start()
	}
	return client.Run(ctx)
}

// serveRole runs a role's server in the background. A role that cannot
// listen is a broken node, so an error in its first moments is returned at
// once; wait blocks until the server has stopped.
func serveRole(ctx context.Context, run func(context.Context) error) (wait func(), err error) {
	errc := make(chan error, 1)
	go func() { errc <- run(ctx) }()
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("stopped at once")
		}
		return nil, err
	case <-time.After(200 * time.Millisecond):
	}
	return func() { <-errc }, nil
}

// startContainers sets up what the app and db roles share: the container driver and the image
// builder.
func startContainers(ctx context.Context, cfg Config) (*container.Driver, *image.Builder, error) {
	drv, err := container.New(ctx, container.Config{
		Socket: cfg.ContainerdSocket, Namespace: cfg.ContainerdNamespace,
		StateDir: filepath.Join(cfg.StateDir, "containers"), Bridge: cfg.Bridge, Subnet: cfg.Subnet,
		HostIP: cfg.Advertise, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	imgs, err := image.NewBuilder(image.Config{CacheDir: cfg.ImageCacheDir, Client: drv.Client(), PlainHTTPRegistries: cfg.PlainHTTPRegistries,
		Namespace: cfg.ContainerdNamespace, Logger: cfg.Logger})
	if err != nil {
		drv.Close()
		return nil, nil, err
	}
	return drv, imgs, nil
}

// sshAdvertise is where users reach the ssh role: its listen address, with
// the node's advertise address when it listens on all of them.
func sshAdvertise(listen, advertise string) string {
	host, port, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = advertise
	}
	return net.JoinHostPort(host, port)
}

func usage(u machine.Usage) proto.Usage {
	return proto.Usage{CPUPercent: u.CPUPercent, MemoryUsedBytes: u.MemoryUsedBytes, DiskUsedBytes: u.DiskUsedBytes, Load1: u.Load1}
}
