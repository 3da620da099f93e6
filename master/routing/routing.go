package routing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"gasper/api"
	"gasper/master/pki"
	"gasper/proto"
)

// Apps is what routing needs of the app service.
type Apps interface {
	Routes(ctx context.Context) ([]proto.Route, error)
}

// Nodes is what routing needs of the node registry.
type Nodes interface {
	Nodes(ctx context.Context) ([]api.Node, error)
}

// Tunnel gives HTTP clients to connected nodes.
type Tunnel interface {
	Client(nodeID string) (*http.Client, bool)
}

// Config configures routing.
type Config struct {
	Apps Apps
	// Records, if set, returns more DNS records (relative names, like "mydb.db").
	Records func(ctx context.Context) (map[string][]string, error)
	Nodes   Nodes
	Tunnel  Tunnel
	// Domain is the cloud domain.
	Domain string
	// TTL is the DNS answers' TTL in seconds.
	TTL uint32
	// CA signs the certificate for *.Domain the proxies serve.
	CA *pki.CA
	// MasterHost is the master's address, answered for master.Domain.
	MasterHost string
	// ACME, if set, gets certificates for custom domains.
	ACME *proto.ACME
	// Certificates returns the certificates operators uploaded.
	Certificates func(ctx context.Context) ([]proto.Certificate, error)
	// Every is how often the tables are recomputed besides Kick (for node
	// state, which changes without one); default 1s.
	Every  time.Duration
	Logger *slog.Logger

	// Hold, if set, holds back route tables and zones while it returns true:
	// proxies and DNS servers keep what they have (a master that has just
	// started knows no instance yet).
	Hold func() bool
}

// Router keeps proxies and DNS servers in step. Create it with New and run
// it with Run.
type Router struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	cert     proto.Certificate
	table    proto.RouteTable
	zone     proto.Zone
	sumTable [32]byte
	sumZone  [32]byte
	pushed   map[string]uint64 // "node/table" or "node/zone" -> version it has
	kicks    chan struct{}
}

// New returns a Router; it issues the wildcard certificate at once.
func New(cfg Config) (*Router, error) {
	if cfg.Every == 0 {
		cfg.Every = time.Second
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{cfg: cfg, log: cfg.Logger.With("component", "routing"), pushed: map[string]uint64{}, kicks: make(chan struct{}, 1)}
	certPEM, keyPEM, err := cfg.CA.IssuePEM([]string{"*." + cfg.Domain, cfg.Domain}, 397*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("issue the certificate for *.%s: %w", cfg.Domain, err)
	}
	r.cert = proto.Certificate{Hosts: []string{"*." + cfg.Domain, cfg.Domain}, CertPEM: string(certPEM), KeyPEM: string(keyPEM)}
	return r, nil
}

// NodeConnected pushes the current tables to a node that just connected.
func (r *Router) NodeConnected(nodeID string, _ proto.Facts) {
	r.mu.Lock()
	delete(r.pushed, nodeID+"/table")
	delete(r.pushed, nodeID+"/zone")
	r.mu.Unlock()
	r.Kick()
}

// Kick asks for a recomputation now.
func (r *Router) Kick() {
	select {
	case r.kicks <- struct{}{}:
	default:
	}
}

// Run recomputes and pushes until ctx ends.
func (r *Router) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	full := time.NewTicker(15 * time.Second)
	defer full.Stop()
	for {
		if err := r.sync(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("update proxies and DNS", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.kicks:
		case <-full.C:
			r.mu.Lock()
			r.pushed = map[string]uint64{} // push everything again, in case a push was lost
			r.mu.Unlock()
		}
	}
}

// Table returns the current route table.
func (r *Router) Table() proto.RouteTable {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table
}

// Zone returns the current DNS zone.
func (r *Router) Zone() proto.Zone {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.zone
}

func (r *Router) sync(ctx context.Context) error {
	routes, err := r.cfg.Apps.Routes(ctx)
	if err != nil {
		return err
	}
	nodes, err := r.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return err
	}
	table := proto.RouteTable{Domain: r.cfg.Domain, Routes: routes, Certificates: []proto.Certificate{r.cert}}
	if r.cfg.Certificates != nil {
		uploaded, err := r.cfg.Certificates(ctx)
		if err != nil {
			return err
		}
		table.Certificates = append(table.Certificates, uploaded...)
	}
	zone := proto.Zone{Domain: r.cfg.Domain, TTL: r.cfg.TTL, Proxies: []string{}, Apps: []string{}, Nameservers: []string{},
		Records: map[string][]string{}}
	var acmeHosts []string
	for _, rt := range routes {
		zone.Apps = append(zone.Apps, rt.App)
		for _, h := range rt.Hosts {
			if h != rt.App+"."+r.cfg.Domain && h != rt.App {
				zone.CustomDomains = append(zone.CustomDomains, h)
				acmeHosts = append(acmeHosts, h)
			}
		}
	}
	if r.cfg.ACME != nil && len(acmeHosts) > 0 {
		a := *r.cfg.ACME
		a.Hosts = acmeHosts
		table.ACME = &a
	}
	if r.cfg.Records != nil {
		recs, err := r.cfg.Records(ctx)
		if err != nil {
			return err
		}
		for k, v := range recs {
			zone.Records[k] = v
		}
	}
	if ip := net.ParseIP(r.cfg.MasterHost); ip != nil {
		zone.Records["master"] = []string{ip.String()}
	}
	var proxies, dnsNodes []api.Node
	for _, n := range nodes {
		live := n.State == api.NodeReady && n.Connected
		if live && slices.Contains(n.Roles, proto.RoleProxy) && net.ParseIP(n.Advertise) != nil {
			zone.Proxies = append(zone.Proxies, n.Advertise)
		}
		if slices.Contains(n.Roles, proto.RoleProxy) {
			proxies = append(proxies, n)
		}
		if slices.Contains(n.Roles, proto.RoleDNS) {
			dnsNodes = append(dnsNodes, n)
			if live && net.ParseIP(n.Advertise) != nil {
				zone.Nameservers = append(zone.Nameservers, n.Advertise)
			}
		}
	}
	sort.Strings(zone.Proxies)
	sort.Strings(zone.Nameservers)
	sort.Strings(zone.Apps)
	sort.Strings(zone.CustomDomains)

	r.mu.Lock()
	now := uint64(time.Now().UnixNano())
	if sum := digest(table); sum != r.sumTable {
		r.sumTable, table.Version = sum, now
		r.table = table
	}
	if sum := digest(zone); sum != r.sumZone {
		r.sumZone, zone.Version = sum, now
		r.zone = zone
	}
	table, zone = r.table, r.zone
	r.mu.Unlock()

	if r.cfg.Hold != nil && r.cfg.Hold() {
		return nil
	}
	for _, n := range proxies {
		r.push(ctx, n, "table", table.Version, proto.PathRoutes, table)
	}
	for _, n := range dnsNodes {
		r.push(ctx, n, "zone", zone.Version, proto.PathZone, zone)
	}
	return nil
}

func digest(v any) [32]byte {
	b, _ := json.Marshal(v)
	return sha256.Sum256(b)
}

// push sends body to a node unless it already has this version.
func (r *Router) push(ctx context.Context, n api.Node, what string, version uint64, path string, body any) {
	key := n.ID + "/" + what
	r.mu.Lock()
	done := r.pushed[key] == version
	r.mu.Unlock()
	if done {
		return
	}
	hc, ok := r.cfg.Tunnel.Client(n.ID)
	if !ok {
		return
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PUT", "http://agent"+path, bytes.NewReader(b))
	if err != nil {
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		r.log.Warn("push "+what, "node", n.Hostname, "err", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		r.log.Warn("push "+what, "node", n.Hostname, "status", resp.Status, "answer", string(bytes.TrimSpace(msg)))
		return
	}
	r.mu.Lock()
	r.pushed[key] = version
	r.mu.Unlock()
}
