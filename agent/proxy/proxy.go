package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gasper/proto"
)

// Proxy routes HTTP(S) requests to applications' instances by Host.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	access *slog.Logger

	// cur is the table in use; swapped whole by SetTable.
	cur atomic.Pointer[compiled]
	// setMu orders SetTable calls (version check, save, swap).
	setMu sync.Mutex

	rp      *httputil.ReverseProxy
	h1, h2c *http.Transport
	// direct pools the backend connections of the direct path (direct.go);
	// tests set directOff to compare it with the ReverseProxy path.
	direct    *connPool
	directOff atomic.Bool
	handler   http.Handler

	// ctx lives as long as the proxy serves: request contexts and ACME
	// work derive from it, so ending it ends hijacked streams too.
	ctx    context.Context
	cancel context.CancelFunc

	acme acmeState
}

// New creates a Proxy and loads the table saved under cfg.StateDir, if
// any, so it can route before the master is reachable. A saved table that
// cannot be read is logged and ignored: the master will push a fresh one.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("component", "proxy"), access: cfg.AccessLogger}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.setupForwarding()
	p.handler = http.HandlerFunc(p.serveHTTP)

	empty, _ := compile(proto.RouteTable{})
	p.cur.Store(empty)
	saved, err := loadTable(cfg.StateDir)
	if err != nil {
		p.log.Error("ignoring saved route table", "err", err)
		return p, nil
	}
	c, err := compile(saved)
	if err != nil {
		p.log.Error("ignoring saved route table", "err", err)
		return p, nil
	}
	p.cur.Store(c)
	p.log.Info("loaded saved route table", "version", saved.Version, "routes", len(saved.Routes))
	return p, nil
}

// SetTable validates t, saves it under StateDir (atomically, mode 0600)
// and makes it the table in use in one step, so a request sees either the
// old table or the new one. A table older than the current one is refused
// with ErrStaleTable; the same version is accepted again.
func (p *Proxy) SetTable(t proto.RouteTable) error {
	c, err := compile(t)
	if err != nil {
		return fmt.Errorf("checking route table %d: %w", t.Version, err)
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	if old := p.cur.Load(); t.Version < old.table.Version {
		return fmt.Errorf("setting route table %d (have %d): %w", t.Version, old.table.Version, ErrStaleTable)
	}
	if err := saveTable(p.cfg.StateDir, t); err != nil {
		return err
	}
	p.cur.Store(c)
	p.direct.retain(c.backends())
	p.syncACME()
	p.log.Info("route table set", "version", t.Version, "routes", len(t.Routes),
		"certificates", len(t.Certificates))
	return nil
}

// Table returns the table in use.
func (p *Proxy) Table() proto.RouteTable {
	return p.cur.Load().table
}

// Handler returns the routing handler (what both listeners serve, minus
// the h2c Upgrade wrapper), for tests and embedding.
func (p *Proxy) Handler() http.Handler { return p.handler }

// hostOf returns r's host, lower-cased, without port or trailing dot.
func hostOf(r *http.Request) string {
	h := r.Host
	if hp, _, err := net.SplitHostPort(h); err == nil {
		h = hp
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	st := &reqState{}
	host := hostOf(r)
	defer func() {
		if !p.access.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		p.access.LogAttrs(r.Context(), slog.LevelInfo, "access",
			slog.String("host", host), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.String("proto", r.Proto),
			slog.Int("status", rec.statusOr200()), slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("app", st.app), slog.String("backend", st.backend),
			slog.String("client", r.RemoteAddr))
	}()

	if r.TLS == nil && p.serveACMEChallenge(rec, r) {
		return
	}
	c := p.cur.Load()
	rt := c.hosts[host]
	if rt == nil {
		page(rec, http.StatusNotFound, "no app answers at %s", host)
		return
	}
	st.app = rt.app
	if r.TLS == nil && rt.redirect {
		p.redirectHTTPS(rec, r, host)
		return
	}
	if len(rt.backends) == 0 {
		page(rec, http.StatusServiceUnavailable, "%s has no healthy instance", rt.app)
		return
	}
	st.route = rt
	if isH2WebSocket(r) {
		p.serveH2WebSocket(rec, r, st)
		return
	}
	if canDirect(r) && !p.directOff.Load() {
		p.serveDirect(rec, r, st)
		return
	}
	p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// redirectHTTPS answers a plain request with 308 to the same URL on HTTPS.
func (p *Proxy) redirectHTTPS(w http.ResponseWriter, r *http.Request, host string) {
	target := host
	if _, port, err := net.SplitHostPort(p.cfg.HTTPSAddr); err == nil && port != "443" && port != "0" {
		target = net.JoinHostPort(host, port)
	}
	http.Redirect(w, r, "https://"+target+r.URL.RequestURI(), http.StatusPermanentRedirect)
}

// page writes a short plain-text error page.
func page(w http.ResponseWriter, code int, format string, args ...any) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "%d %s: "+format+"\n", append([]any{code, http.StatusText(code)}, args...)...)
}

// recorder notes the status and size of a response for the access log.
// Unwrap lets http.ResponseController reach Flush, Hijack and the rest.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 || r.status < 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush is here because some code still asserts http.Flusher directly.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
