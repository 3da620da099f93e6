package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"

	"gasper/internal/jsonfile"
	"gasper/proto"
)

// ErrStaleTable is returned by SetTable for a table older than the one in use.
var ErrStaleTable = errors.New("route table is older than the current one")

// routesFile is the table's name under StateDir.
const routesFile = "routes.json"

// route is one proto.Route ready to serve.
type route struct {
	app      string
	backends []string
	redirect bool
	// next spreads requests round robin; it starts again at each table.
	next atomic.Uint64
}

// compiled is an immutable, validated table: the proxy swaps whole
// compiled tables so no request sees half of one.
type compiled struct {
	table proto.RouteTable
	hosts map[string]*route
	// certs maps a host name or "*.suffix" to its certificate.
	certs map[string]*tls.Certificate
	// acmeHosts are the names whose certificates come from ACME.
	acmeHosts map[string]bool
}

// compile validates t and indexes it.
func compile(t proto.RouteTable) (*compiled, error) {
	c := &compiled{
		table:     t,
		hosts:     map[string]*route{},
		certs:     map[string]*tls.Certificate{},
		acmeHosts: map[string]bool{},
	}
	for i, r := range t.Routes {
		if r.App == "" {
			return nil, fmt.Errorf("route %d: no app name", i)
		}
		if len(r.Hosts) == 0 {
			return nil, fmt.Errorf("route for app %q: no hosts", r.App)
		}
		rt := &route{app: r.App, backends: append([]string(nil), r.Backends...), redirect: r.RedirectHTTPS}
		for _, b := range r.Backends {
			if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
				return nil, fmt.Errorf("route for app %q: backend %q is not host:port", r.App, b)
			}
		}
		for _, h := range r.Hosts {
			if err := checkHost(h); err != nil {
				return nil, fmt.Errorf("route for app %q: %w", r.App, err)
			}
			if other, dup := c.hosts[h]; dup {
				return nil, fmt.Errorf("host %q is routed to both %q and %q", h, other.app, r.App)
			}
			c.hosts[h] = rt
		}
	}
	for i, pc := range t.Certificates {
		cert, err := tls.X509KeyPair([]byte(pc.CertPEM), []byte(pc.KeyPEM))
		if err != nil {
			return nil, fmt.Errorf("certificate %d (%v): %w", i, pc.Hosts, err)
		}
		if len(pc.Hosts) == 0 {
			return nil, fmt.Errorf("certificate %d: no hosts", i)
		}
		for _, h := range pc.Hosts {
			if err := checkHost(strings.TrimPrefix(h, "*.")); err != nil {
				return nil, fmt.Errorf("certificate %d: %w", i, err)
			}
			c.certs[h] = &cert
		}
	}
	if a := t.ACME; a != nil {
		if a.DirectoryURL == "" {
			return nil, errors.New("acme: no directory URL")
		}
		if a.RootPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(a.RootPEM)) {
			return nil, errors.New("acme: root_pem holds no certificate")
		}
		for _, h := range a.Hosts {
			if err := checkHost(h); err != nil {
				return nil, fmt.Errorf("acme: %w", err)
			}
			c.acmeHosts[h] = true
		}
	}
	return c, nil
}

// backends is the set of every route's backends.
func (c *compiled) backends() map[string]bool {
	m := map[string]bool{}
	for _, rt := range c.hosts {
		for _, b := range rt.backends {
			m[b] = true
		}
	}
	return m
}

// checkHost accepts a lower-case DNS name without port.
func checkHost(h string) error {
	if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, ":/ *") || strings.HasSuffix(h, ".") {
		return fmt.Errorf("host %q must be a lower-case name without port", h)
	}
	return nil
}

// loadTable reads the table saved under dir; a missing file is an empty table.
func loadTable(dir string) (proto.RouteTable, error) {
	var t proto.RouteTable
	if dir == "" {
		return t, nil
	}
	if _, err := jsonfile.Load(filepath.Join(dir, routesFile), &t); err != nil {
		return proto.RouteTable{}, fmt.Errorf("reading saved route table: %w", err)
	}
	return t, nil
}

// saveTable writes t under dir atomically: a crash leaves the old file or
// the new one, never a torn one. The file holds private keys: it is 0600.
func saveTable(dir string, t proto.RouteTable) error {
	if dir == "" {
		return nil
	}
	if err := jsonfile.Save(filepath.Join(dir, routesFile), t); err != nil {
		return fmt.Errorf("saving route table: %w", err)
	}
	return nil
}
