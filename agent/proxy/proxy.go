package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

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

	// pool keeps the HTTP/1.1 backend connections (backend.go); rp and
	// h2c carry gRPC (forward.go).
	pool    *connPool
	rp      *httputil.ReverseProxy
	h2c     *http.Transport
	handler http.Handler

	// h2 serves HTTP/2 connections; h2up those upgraded from h2c, with
	// h2upBase as its configuration and graceful shutdown (h2.go).
	h2       *http.Server
	h2up     *http2.Server
	h2upBase *http.Server

	// conns are the client connections being served by fasthttp or
	// h2up, closed when a shutdown runs out of time; h2conns counts the
	// ones h2up serves.
	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	h2conns sync.WaitGroup

	// ctx lives as long as the proxy serves: request contexts and ACME
	// work derive from it, so ending it ends hijacked streams too.
	ctx    context.Context
	cancel context.CancelFunc

	acme acmeState

	// front is the event-loop front for HTTP/1.1 (loop.go), set by Serve.
	front atomic.Pointer[loopFront]
}

// New creates a Proxy and loads the table saved under cfg.StateDir, if
// any, so it can route before the master is reachable. A saved table that
// cannot be read is logged and ignored: the master will push a fresh one.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("component", "proxy"), access: cfg.AccessLogger,
		conns: map[net.Conn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.pool = newConnPool(p.cfg.MaxIdleConnsPerBackend, p.cfg.DialTimeout)
	p.setupGRPC()
	p.handler = http.HandlerFunc(p.serveHTTP)
	p.setupH2()

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
	p.pool.retain(c.backends())
	if f := p.front.Load(); f != nil {
		f.retain(c.backends())
	}
	p.syncACME()
	p.log.Info("route table set", "version", t.Version, "routes", len(t.Routes),
		"certificates", len(t.Certificates))
	return nil
}

// Table returns the table in use.
func (p *Proxy) Table() proto.RouteTable {
	return p.cur.Load().table
}

// Handler returns the routing handler HTTP/2 requests go to, for tests
// and embedding. HTTP/1.1 is served by fasthttp (h1.go) with the same
// routing.
func (p *Proxy) Handler() http.Handler { return p.handler }

// normHost returns a Host header's name, lower-cased, without port or
// trailing dot.
func normHost(h string) string {
	if hp, _, err := net.SplitHostPort(h); err == nil {
		h = hp
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// serveHTTP serves HTTP/2 requests (over TLS, h2c, and h2c upgrades).
func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	st := &reqState{}
	host := normHost(r.Host)
	defer func() {
		if !p.access.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		p.logAccess(&accessEntry{start: start, host: host, method: r.Method, path: r.URL.Path,
			proto: r.Proto, status: rec.statusOr200(), bytes: rec.bytes,
			app: st.app, backend: st.backend, client: r.RemoteAddr})
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
		http.Redirect(rec, r, p.httpsURL(host, r.URL.RequestURI()), http.StatusPermanentRedirect)
		return
	}
	if len(rt.backends) == 0 {
		page(rec, http.StatusServiceUnavailable, "%s has no healthy instance", rt.app)
		return
	}
	st.route = rt
	switch {
	case isH2WebSocket(r):
		p.serveH2WebSocket(rec, r, st)
	case isGRPC(r):
		p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	default:
		p.forwardH2(rec, r, st)
	}
}

// httpsURL is where a redirect to HTTPS points.
func (p *Proxy) httpsURL(host, requestURI string) string {
	target := host
	if _, port, err := net.SplitHostPort(p.cfg.HTTPSAddr); err == nil && port != "443" && port != "0" {
		target = net.JoinHostPort(host, port)
	}
	return "https://" + target + requestURI
}

// statusClientGone is logged for requests whose client left before the
// answer (nginx's 499).
const statusClientGone = 499

// errorStatus maps a failed forward to a status and a message for its
// page.
func errorStatus(err error, app string) (int, string) {
	var ne net.Error
	switch {
	case errors.Is(err, errClientGone):
		return statusClientGone, ""
	case errors.Is(err, errNoBackend):
		return http.StatusBadGateway, fmt.Sprintf("no instance of %s could be reached", app)
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, fmt.Sprintf("%s did not answer in time", app)
	default:
		return http.StatusBadGateway, fmt.Sprintf("%s answered with an error", app)
	}
}

// errorPage answers a request that could not be forwarded.
func (p *Proxy) errorPage(w http.ResponseWriter, r *http.Request, app string, err error) {
	if r.Context().Err() != nil {
		err = errClientGone
	}
	code, msg := errorStatus(err, app)
	switch {
	case code == statusClientGone:
		// Nobody reads this answer.
		w.WriteHeader(code)
		return
	case code == http.StatusBadGateway && !errors.Is(err, errNoBackend):
		p.log.Warn("forwarding failed", "app", app, "err", err)
	}
	page(w, code, "%s", msg)
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

// accessEntry is one access log line.
type accessEntry struct {
	start                                           time.Time
	host, method, path, proto, app, backend, client string
	status                                          int
	bytes                                           int64
}

func (p *Proxy) logAccess(e *accessEntry) {
	p.access.LogAttrs(p.ctx, slog.LevelInfo, "access",
		slog.String("host", e.host), slog.String("method", e.method),
		slog.String("path", e.path), slog.String("proto", e.proto),
		slog.Int("status", e.status), slog.Int64("bytes", e.bytes),
		slog.Duration("duration", time.Since(e.start)),
		slog.String("app", e.app), slog.String("backend", e.backend),
		slog.String("client", e.client))
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
