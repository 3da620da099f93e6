package proxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// HTTP/1.1 from clients, plain and over TLS when ALPN did not pick h2, is
// served by fasthttp: it reads requests straight from the connection
// (net/http's server also reads in the background of every request, to
// notice a client leaving, and builds a Request, a header map and a
// context each time; on loopback those reads and the goroutine hand-offs
// they cause cost more than the forwarding). HTTP/2 goes to net/http's
// server (h2.go).

// smallBody is the largest response body read whole before it is sent
// on; larger and unknown lengths are streamed.
const smallBody = 16 << 10

func (p *Proxy) newH1Server() *fasthttp.Server {
	return &fasthttp.Server{
		Handler: p.serveH1,
		// The header buffer is the header limit: larger gets 431.
		ReadBufferSize: p.cfg.MaxHeaderBytes,
		// Bounds the TLS handshake and each request's header; the handler
		// lifts it for a body (handleBody).
		ReadTimeout:                  p.cfg.ReadHeaderTimeout,
		IdleTimeout:                  p.cfg.IdleTimeout,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		Logger:                       serverErrorLog(p.log),
		ErrorHandler:                 h1Error,
		ConnState:                    p.trackH1,
	}
}

// h1Error answers what fasthttp could not read as a request.
func h1Error(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		pageH1(ctx, http.StatusRequestHeaderFieldsTooLarge, "request headers are too large")
	case errors.As(err, &ne) && ne.Timeout():
		pageH1(ctx, http.StatusRequestTimeout, "request headers took too long")
	default:
		pageH1(ctx, http.StatusBadRequest, "malformed request")
	}
}

func (p *Proxy) serveH1(ctx *fasthttp.RequestCtx) {
	var start time.Time
	logging := p.access.Enabled(p.ctx, slog.LevelInfo)
	if logging {
		start = time.Now()
	}
	st := &reqState{}
	host := normHost(string(ctx.Host()))
	https := ctx.IsTLS()
	streamed := p.routeH1(ctx, st, host, https)
	if !logging {
		return
	}
	e := accessEntry{
		start: start, host: host, method: string(ctx.Method()), path: string(ctx.Path()),
		proto: string(ctx.Request.Header.Protocol()), status: ctx.Response.StatusCode(),
		app: st.app, backend: st.backend, client: ctx.RemoteAddr().String(),
	}
	if streamed != nil {
		streamed.closed = func(n int64) { e.bytes = n; p.logAccess(&e) }
		return
	}
	e.bytes = int64(len(ctx.Response.Body()))
	p.logAccess(&e)
}

// routeH1 answers ctx; a response body still to be streamed is returned.
func (p *Proxy) routeH1(ctx *fasthttp.RequestCtx, st *reqState, host string, https bool) *backendBody {
	if !https && bytes.HasPrefix(ctx.Path(), []byte(acmeChallengePath)) {
		fasthttpadaptor.NewFastHTTPHandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !p.serveACMEChallenge(w, r) {
				page(w, http.StatusNotFound, "no challenge here")
			}
		})(ctx)
		return nil
	}
	rt := p.cur.Load().hosts[host]
	if rt == nil {
		pageH1(ctx, http.StatusNotFound, "no app answers at %s", host)
		return nil
	}
	st.app = rt.app
	if !https && rt.redirect {
		ctx.Response.Header.Set("Location", p.httpsURL(host, string(ctx.RequestURI())))
		ctx.SetStatusCode(http.StatusPermanentRedirect)
		return nil
	}
	if len(rt.backends) == 0 {
		pageH1(ctx, http.StatusServiceUnavailable, "%s has no healthy instance", rt.app)
		return nil
	}
	st.route = rt
	upgrade := len(ctx.Request.Header.Peek("Upgrade")) > 0 && hasToken(ctx.Request.Header.Peek("Connection"), []byte("upgrade"))
	if upgrade && !https && p.upgradeH2C(ctx) {
		return nil
	}
	if reqBody(&ctx.Request) {
		// A body is read at the client's pace: only the headers were
		// bounded by ReadTimeout.
		_ = ctx.SetReadDeadline(time.Time{})
	}
	req := &ctx.Request
	req.UseHostHeader = true
	req.URI().DisablePathNormalizing = true
	forwardHeader(&req.Header, remoteIP(ctx.RemoteAddr()), https, upgrade)
	gone := func() bool { return peerClosed(ctx.Conn()) }
	bc, err := p.exchange(fastRequest{req}, &ctx.Response, st, gone, earlyHints(ctx))
	if err != nil {
		ctx.Response.Reset()
		code, msg := errorStatus(err, st.app)
		if code == statusClientGone {
			ctx.SetStatusCode(code)
			ctx.SetConnectionClose()
			return nil
		}
		if code == http.StatusBadGateway && !errors.Is(err, errNoBackend) {
			p.log.Warn("forwarding failed", "app", st.app, "err", err)
		}
		pageH1(ctx, code, "%s", msg)
		return nil
	}
	closing := cleanResponseHeader(&ctx.Response.Header)
	if ctx.Response.StatusCode() == fasthttp.StatusSwitchingProtocols {
		if !upgrade {
			bc.c.Close()
			ctx.Response.Reset()
			p.log.Warn("forwarding failed", "app", st.app, "err", "backend switched protocols unasked")
			pageH1(ctx, http.StatusBadGateway, "%s answered with an error", st.app)
			return nil
		}
		p.tunnelH1(ctx, bc)
		return nil
	}
	if !hasBody(ctx.IsHead(), &ctx.Response.Header) {
		if closing || bc.br.Buffered() > 0 {
			bc.c.Close()
		} else {
			p.pool.put(bc)
		}
		return nil
	}
	if cl := ctx.Response.Header.ContentLength(); cl >= 0 && cl <= smallBody {
		// Small and of known length, the common answer: read whole, so
		// the connection goes back to the pool before the client is
		// written to.
		if err := p.readWhole(bc, &ctx.Response, closing); err != nil {
			ctx.Response.Reset()
			p.log.Warn("forwarding failed", "app", st.app, "err", err)
			pageH1(ctx, http.StatusBadGateway, "%s answered with an error", st.app)
		}
		return nil
	}
	body := p.newBackendBody(bc, &ctx.Response.Header, closing)
	ctx.Response.SetBodyStream(body, ctx.Response.Header.ContentLength())
	return body
}

// earlyHints passes a backend's 103 Early Hints (its Link fields) on to
// the client of ctx, when that is safe: on the first request of a
// connection. On later ones fasthttp may still hold the previous response
// in its write buffer (it sends the answers to pipelined requests
// together), and a 103 written ahead of it would overtake it. Other 1xx
// answers are not passed on to HTTP/1.1 clients.
func earlyHints(ctx *fasthttp.RequestCtx) func(*fasthttp.ResponseHeader) {
	if ctx.ConnRequestNum() != 1 || !ctx.Request.Header.IsHTTP11() {
		return nil
	}
	return func(h *fasthttp.ResponseHeader) {
		// h is ctx.Response.Header, holding the 103 until the next
		// response is read into it; EarlyHints sends its Link fields.
		if h.StatusCode() == fasthttp.StatusEarlyHints {
			_ = ctx.EarlyHints()
		}
	}
}

// upgradeH2C takes a plain "Upgrade: h2c" request over to HTTP/2 (RFC 7540
// 3.2): the answer comes on stream 1 of the new connection. False when
// the request does not qualify; it then goes on as HTTP/1.1.
func (p *Proxy) upgradeH2C(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	if !hasToken(h.Peek("Upgrade"), []byte("h2c")) || reqBody(&ctx.Request) {
		return false
	}
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(h.Peek("HTTP2-Settings")), "="))
	if err != nil || len(h.Peek("HTTP2-Settings")) == 0 {
		return false
	}
	var r http.Request
	if err := fasthttpadaptor.ConvertRequest(ctx, &r, true); err != nil {
		return false
	}
	for _, k := range []string{"Connection", "Upgrade", "Http2-Settings"} {
		r.Header.Del(k)
	}
	r.Body = http.NoBody
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
			return
		}
		p.serveH2Upgrade(c, &r, settings)
	})
	return true
}

// tunnelH1 answers an upgrade the backend accepted, and then copies
// bytes both ways until either side closes or the proxy stops.
func (p *Proxy) tunnelH1(ctx *fasthttp.RequestCtx, bc *backendConn) {
	head := append([]byte(nil), ctx.Response.Header.Header()...)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		p.hold(c)
		defer p.release(c)
		defer bc.c.Close()
		if _, err := c.Write(head); err != nil {
			return
		}
		pipe(p, c, bc.c, bc.br)
	})
}

// pipe copies client to backend and backend (starting with what br holds)
// to client until one side is done or the proxy stops, then closes both.
func pipe(p *Proxy, client, backend net.Conn, br io.Reader) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(backend, client)
		if cw, ok := backend.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		_, _ = io.CopyBuffer(client, br, *buf)
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-p.ctx.Done():
	}
	client.Close()
	backend.Close()
	<-done
}

// reqBody reports a request with a body to stream.
func reqBody(r *fasthttp.Request) bool {
	return r.IsBodyStream() && r.Header.ContentLength() != 0
}

// pageH1 writes a short plain-text error page.
func pageH1(ctx *fasthttp.RequestCtx, code int, format string, args ...any) {
	h := &ctx.Response.Header
	h.SetContentType("text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(code)
	fmt.Fprintf(ctx, "%d %s: "+format+"\n", append([]any{code, http.StatusText(code)}, args...)...)
}

// remoteIP is the client's address without port.
func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return ""
}
