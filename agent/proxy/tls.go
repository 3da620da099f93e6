package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// getCertificate chooses the certificate for a TLS handshake by SNI: a
// table certificate for the exact name, then ACME for a name listed under
// ACME, then a table wildcard one level up.
func (p *Proxy) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	c := p.cur.Load()
	if cert := c.certs[name]; cert != nil {
		return cert, nil
	}
	if c.acmeHosts[name] {
		if cm := p.acmeConfig(); cm != nil {
			return cm.GetCertificate(hello)
		}
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if cert := c.certs["*"+name[i:]]; cert != nil {
			return cert, nil
		}
	}
	return nil, fmt.Errorf("no certificate for %q", name)
}

// acmeState is the certmagic machinery, built when a table asks for ACME
// and the plain listener (which answers HTTP-01) is bound.
type acmeState struct {
	mu sync.Mutex
	// httpAddr is the bound plain listener, where HTTP-01 is answered.
	httpAddr string
	// key identifies the ACME settings the running manager was built for.
	key     string
	cache   *certmagic.Cache
	cfg     *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	managed map[string]bool
}

func (p *Proxy) acmeConfig() *certmagic.Config {
	p.acme.mu.Lock()
	defer p.acme.mu.Unlock()
	return p.acme.cfg
}

// acmeChallengePath is where HTTP-01 challenges are fetched.
const acmeChallengePath = "/.well-known/acme-challenge/"

// serveACMEChallenge answers an HTTP-01 challenge request; false means r
// is not one.
func (p *Proxy) serveACMEChallenge(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, acmeChallengePath) {
		return false
	}
	p.acme.mu.Lock()
	issuer := p.acme.issuer
	p.acme.mu.Unlock()
	return issuer != nil && issuer.HandleHTTPChallenge(w, r)
}

// syncACME starts managing the ACME hosts of the current table, rebuilding
// the manager when the ACME server settings change. Certificates are
// obtained and renewed in the background.
func (p *Proxy) syncACME() {
	a := p.cur.Load().table.ACME
	p.acme.mu.Lock()
	defer p.acme.mu.Unlock()
	if a == nil || p.acme.httpAddr == "" {
		return
	}
	if p.cfg.StateDir == "" {
		p.log.Error("acme needs a state dir for its account and certificates; not starting it")
		return
	}
	key := a.DirectoryURL + "\n" + a.Email + "\n" + a.RootPEM
	if key != p.acme.key {
		if p.acme.cache != nil {
			p.acme.cache.Stop()
		}
		if err := p.newACME(a.DirectoryURL, a.Email, a.RootPEM); err != nil {
			p.log.Error("starting acme", "err", err)
			return
		}
		p.acme.key = key
	}
	var add []string
	for _, h := range a.Hosts {
		if !p.acme.managed[h] {
			add = append(add, h)
			p.acme.managed[h] = true
		}
	}
	if len(add) == 0 {
		return
	}
	if err := p.acme.cfg.ManageAsync(p.ctx, add); err != nil {
		p.log.Error("managing acme certificates", "hosts", add, "err", err)
	}
}

// newACME builds the certmagic cache, config and issuer; p.acme.mu is held.
func (p *Proxy) newACME(dir, email, rootPEM string) error {
	host, portStr, err := net.SplitHostPort(p.acme.httpAddr)
	if err != nil {
		return fmt.Errorf("reading http listener address: %w", err)
	}
	port, _ := strconv.Atoi(portStr)
	var roots *x509.CertPool
	if rootPEM != "" {
		roots = x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(rootPEM))
	}
	log := p.log.With("component", "proxy-acme")
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zap.NewNop(),
	})
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(p.cfg.StateDir, "acme")},
		Logger:  zap.NewNop(),
		OnEvent: func(ctx context.Context, event string, data map[string]any) error {
			level := slog.LevelDebug
			switch event {
			case "cert_obtaining", "cert_obtained":
				level = slog.LevelInfo
			case "cert_failed":
				level = slog.LevelError
			}
			log.Log(ctx, level, "acme "+event, "identifier", data["identifier"], "error", data["error"])
			return nil
		},
	})
	issuer := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:                      dir,
		TestCA:                  dir,
		Email:                   email,
		Agreed:                  true,
		DisableTLSALPNChallenge: true,
		// HTTP-01 is answered by the proxy's own plain listener; pointing
		// certmagic at that address keeps it from binding one of its own.
		ListenHost:   host,
		AltHTTPPort:  port,
		TrustedRoots: roots,
		Logger:       zap.NewNop(),
	})
	cfg.Issuers = []certmagic.Issuer{issuer}
	p.acme.cache, p.acme.cfg, p.acme.issuer = cache, cfg, issuer
	p.acme.managed = map[string]bool{}
	return nil
}

// stopACME stops certmagic's background maintenance.
func (p *Proxy) stopACME() {
	p.acme.mu.Lock()
	defer p.acme.mu.Unlock()
	if p.acme.cache != nil {
		p.acme.cache.Stop()
		p.acme.cache = nil
	}
}
