package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"gasper/internal/jsonfile"
	"gasper/proto"
)

// zoneFile is the name of the zone kept in Config.StateDir.
const zoneFile = "zone.json"

// udpBuffer is the socket buffer size asked for the UDP socket.
const udpBuffer = 4 << 20

// resolvConf is where upstreams come from when Config.Upstreams is empty;
// a variable so tests can point it elsewhere.
var resolvConf = "/etc/resolv.conf"

// Config is what a Server needs.
type Config struct {
	// Addr is the host:port served over both UDP and TCP, e.g.
	// "127.0.0.3:53". Port 0 picks a free port, the same for both.
	Addr string
	// StateDir holds zone.json, the last zone set, loaded by New. Empty
	// keeps the zone in memory only.
	StateDir string
	// Upstreams are the resolvers ("ip" or "ip:port") asked for names
	// outside the zone, in order. Empty reads /etc/resolv.conf, skipping
	// its loopback entries and Addr itself, so the server never asks itself.
	Upstreams []string
	// CacheSize bounds the forwarded answers kept (0: 10000; negative: no
	// cache).
	CacheSize int
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server answers for the cloud domain and forwards the rest. Its methods are
// safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	// zone is swapped whole by SetZone and read without locks per query;
	// nil until the first zone (everything is forwarded meanwhile).
	zone atomic.Pointer[compiled]
	// setMu orders SetZone calls, so the version check and the file agree.
	setMu sync.Mutex
	// rotation steps once per answer that lists proxies.
	rotation atomic.Uint64

	fwd *forwarder

	addr    atomic.Pointer[string]
	running atomic.Bool
}

// New returns a Server, with the zone kept in cfg.StateDir if there is one.
// It does not listen yet: Run does.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("creating dns server: no listen address")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("creating dns server: listen address %q: %w", cfg.Addr, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dns")

	ups := cfg.Upstreams
	fromResolvConf := len(ups) == 0
	if fromResolvConf {
		var err error
		if ups, err = resolvConfUpstreams(resolvConf); err != nil {
			// Not fatal: the zone is still served, and forwarding answers
			// SERVFAIL until the node has resolvers.
			log.Warn("no upstream resolvers", "err", err)
		}
	}
	upstreams, err := normalizeUpstreams(ups, cfg.Addr, fromResolvConf)
	if err != nil {
		return nil, fmt.Errorf("creating dns server: %w", err)
	}
	if len(upstreams) == 0 {
		log.Warn("no upstream resolvers: names outside the zone will fail")
	}
	size := cfg.CacheSize
	if size == 0 {
		size = 10000
	}
	s := &Server{cfg: cfg, log: log, fwd: newForwarder(upstreams, size)}

	if cfg.StateDir != "" {
		var z proto.Zone
		ok, err := jsonfile.Load(filepath.Join(cfg.StateDir, zoneFile), &z)
		switch {
		case err != nil:
			return nil, fmt.Errorf("creating dns server: saved zone: %w", err)
		case ok:
			c, err := compile(z)
			if err != nil {
				return nil, fmt.Errorf("creating dns server: saved zone: %w", err)
			}
			s.zone.Store(c)
			log.Info("loaded saved zone", "version", z.Version, "domain", c.origin)
		}
	}
	return s, nil
}

// SetZone validates z, writes it to StateDir and serves it from the next
// query on. A zone with an older Version than the served one is rejected
// with ErrStaleZone; the same version is accepted again.
func (s *Server) SetZone(z proto.Zone) error {
	c, err := compile(z)
	if err != nil {
		return fmt.Errorf("setting zone: %w", err)
	}
	s.setMu.Lock()
	defer s.setMu.Unlock()
	if old := s.zone.Load(); old != nil && z.Version < old.zone.Version {
		return fmt.Errorf("setting zone version %d over %d: %w", z.Version, old.zone.Version, ErrStaleZone)
	}
	if s.cfg.StateDir != "" {
		if err := jsonfile.Save(filepath.Join(s.cfg.StateDir, zoneFile), c.zone); err != nil {
			return fmt.Errorf("setting zone: %w", err)
		}
	}
	s.zone.Store(c)
	s.log.Info("zone set", "version", z.Version, "domain", c.origin,
		"apps", len(z.Apps), "proxies", len(z.Proxies))
	return nil
}

// Zone returns a copy of the zone served (the zero Zone before any).
func (s *Server) Zone() proto.Zone {
	c := s.zone.Load()
	if c == nil {
		return proto.Zone{}
	}
	return cloneZone(c.zone)
}

// Addr returns the address Run listens on (with the port it picked when
// Config.Addr had port 0), or "" before Run has bound.
func (s *Server) Addr() string {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// Run serves UDP and TCP on Config.Addr until ctx ends, then returns nil.
// It returns an error at once if it cannot bind either.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("running dns server: already running")
	}
	defer s.running.Store(false)

	pc, ln, err := listen(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("running dns server: %w", err)
	}
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	s.log.Info("serving", "addr", addr, "upstreams", s.fwd.upstreams)

	servers := []*mdns.Server{{Listener: ln, Handler: s}}
	errc := make(chan error, 2)
	udpDone := make(chan struct{})
	if u, ok := pc.(*net.UDPConn); ok && !u.LocalAddr().(*net.UDPAddr).IP.IsUnspecified() {
		go func() {
			defer close(udpDone)
			if err := s.serveUDP(u); err != nil {
				errc <- err
			}
		}()
	} else {
		// On a wildcard address each answer must leave from the address
		// its query came to: miekg/dns's server does that per packet.
		// UDPSize is the read buffer: room for queries with large EDNS
		// options, not only the 512 bytes of plain DNS.
		close(udpDone)
		servers = append(servers, &mdns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize})
	}
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		// A listener failing on its own is the end of the role: say so
		// rather than serve half the protocols.
		runErr = fmt.Errorf("running dns server on %s: %w", addr, err)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		// Shutdown fails for a server that has already stopped; that is
		// the one runErr reports.
		_ = srv.ShutdownContext(shutCtx)
	}
	pc.Close()
	ln.Close()
	<-udpDone
	return runErr
}

// listen binds UDP and TCP on the same address; with port 0 it retries
// until the port UDP got is free for TCP too. One UDP socket is enough: on
// the 2-core machine bench/dns measured no gain from one socket per reader
// (SO_REUSEPORT), and without it a second server on the same address fails
// to start instead of silently sharing the traffic.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listening on udp %s: %w", addr, err)
		}
		bound := addr
		if port == "0" {
			bound = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		if u, ok := pc.(*net.UDPConn); ok {
			// Bursts of queries overflow the default buffer (about 200
			// KiB) before the reader drains it; the kernel caps this at
			// net.core.rmem_max, which is fine.
			_ = u.SetReadBuffer(udpBuffer)
			_ = u.SetWriteBuffer(udpBuffer)
		}
		ln, err := net.Listen("tcp", bound)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" {
			return nil, nil, fmt.Errorf("listening on tcp %s: %w", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("listening on %s: no port free for both udp and tcp", addr)
}
