package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// gRPC needs HTTP/2 all the way to the backend, with trailers and streams
// both ways; that goes through httputil.ReverseProxy and an h2c
// http.Transport (backends are plain).

// stateKey carries a *reqState in a request's context from serveHTTP to
// the round tripper and the error handler.
type stateKey struct{}

// reqState is what one request learns on its way through: the route it
// matched and the backend that answered, for retries and the access log.
type reqState struct {
	route   *route
	app     string
	backend string
}

// dialError marks a failure to connect to a backend: nothing reached the
// backend, so the request can go to another one.
type dialError struct {
	backend string
	err     error
}

func (e *dialError) Error() string { return fmt.Sprintf("connecting to %s: %v", e.backend, e.err) }
func (e *dialError) Unwrap() error { return e.err }

// errNoBackend is returned when every backend of a route refused or timed out.
var errNoBackend = errors.New("no backend could be reached")

// backendPlaceholder is the URL host of outgoing requests until the round
// tripper picks a backend.
const backendPlaceholder = "backend.invalid"

func (p *Proxy) setupGRPC() {
	dialer := &net.Dialer{Timeout: p.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	p.h2c = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{backend: addr, err: err}
			}
			return c, nil
		},
		Protocols:          &h2,
		IdleConnTimeout:    90 * time.Second,
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			// Detect dead backend connections under long streams.
			PingTimeout:     15 * time.Second,
			SendPingTimeout: 30 * time.Second,
		},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    roundTripper{p},
		BufferPool:   bufPool{},
		ErrorHandler: p.proxyError,
		ErrorLog:     serverErrorLog(p.log),
		// gRPC responses have no Content-Length, so they are flushed per
		// write.
		FlushInterval: 0,
	}
}

// rewrite prepares the outgoing request. Incoming X-Forwarded-* and
// Forwarded headers are dropped by ReverseProxy before this runs: at the
// edge they come from the client and cannot be trusted, so the backend
// sees only what this proxy observed.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = backendPlaceholder
	pr.Out.Host = pr.In.Host // apps see the name they were reached by
	pr.SetXForwarded()
}

// isGRPC reports a gRPC request, which must reach the backend over HTTP/2.
func isGRPC(r *http.Request) bool {
	if r.ProtoMajor != 2 {
		return false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+")
}

// roundTripper picks a backend for each request and moves on to the next
// when one cannot be connected to, as long as no byte of the request body
// was read.
type roundTripper struct{ p *Proxy }

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if st == nil || st.route == nil {
		return nil, errors.New("proxy: request without route")
	}
	var body *trackedBody
	var answer *http.Response
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackedBody{rc: req.Body}
		req.Body = body
	}
	exhausted, err := t.p.tryBackends(st, func(b string) (bool, error) {
		out := *req
		u := *req.URL
		u.Host = b
		out.URL = &u
		resp, err := t.p.h2c.RoundTrip(&out)
		if err == nil {
			answer = resp
			return false, nil
		}
		var de *dialError
		retry := (errors.As(err, &de) && (body == nil || !body.read.Load())) ||
			(body == nil && req.Context().Err() == nil && droppedUnanswered(err))
		return retry, err
	})
	if !exhausted {
		return answer, err
	}
	if body != nil {
		body.rc.Close()
	}
	return nil, noBackend(st.route.app, err)
}

// tryBackends calls try with the route's backends in turn, round robin from
// its next one, recording each in st, until one succeeds or try says the
// request may not go to the next. exhausted tells that every backend failed
// and may have been retried; err is the last failure.
func (p *Proxy) tryBackends(st *reqState, try func(backend string) (retry bool, err error)) (exhausted bool, err error) {
	rt := st.route
	n := uint64(len(rt.backends))
	first := rt.next.Add(1)
	for i := range n {
		b := rt.backends[(first+i)%n]
		st.backend = b
		var retry bool
		if retry, err = try(b); err == nil || !retry {
			return false, err
		}
		p.nextBackend(rt.app, b, err)
	}
	return true, err
}

// nextBackend logs a backend failure that moves a request on. (Apart, as
// is noBackend, to keep the frames small on the way to the backend; see
// respondH2.)
//
//go:noinline
func (p *Proxy) nextBackend(app, backend string, err error) {
	p.log.Warn("backend failed, trying the next", "app", app, "backend", backend, "err", err)
}

// noBackend is the error when every backend of app failed, the last
// with err.
//
//go:noinline
func noBackend(app string, err error) error {
	return fmt.Errorf("%w for %s: %w", errNoBackend, app, err)
}

// trackedBody records whether a request body was read from, and keeps it
// open when a failed round trip closes it, so the next backend can have it.
type trackedBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

// Close is left to the server, which closes request bodies when the
// handler returns.
func (b *trackedBody) Close() error { return nil }

// proxyError maps a failed forward to a status page.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(stateKey{}).(*reqState)
	app := ""
	if st != nil {
		app = st.app
	}
	p.errorPage(w, r, app, err)
}

// bufPool recycles the copy buffers of response bodies.
type bufPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufPool) Get() []byte  { return *(copyBufs.Get().(*[]byte)) }
func (bufPool) Put(b []byte) { copyBufs.Put(&b) }
