package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// HTTP/2 connections (ALPN h2 over TLS, h2c by prior knowledge or by
// Upgrade on the plain port) are served by x/net's HTTP/2 server, whose
// requests go to serveHTTP and from there, but for gRPC and WebSockets,
// to forwardH2: the same HTTP/1.1 exchange with backends as HTTP/1.1
// clients get.

func (p *Proxy) setupH2() {
	p.h2 = &http2.Server{
		MaxReadFrameSize: 1 << 20,
		IdleTimeout:      p.cfg.IdleTimeout,
	}
	p.h2base = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ErrorLog:          serverErrorLog(p.log),
	}
	// Registers the HTTP/2 server's graceful shutdown (GOAWAY) with
	// h2base.Shutdown.
	_ = http2.ConfigureServer(p.h2base, p.h2)
}

// serveH2 serves c as an HTTP/2 connection until it ends. upgrade and
// settings come with an h2c upgrade (nil otherwise).
func (p *Proxy) serveH2(c net.Conn, upgrade *http.Request, settings []byte) {
	p.hold(c)
	defer p.release(c)
	p.h2conns.Add(1)
	defer p.h2conns.Done()
	p.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:        p.ctx,
		BaseConfig:     p.h2base,
		Handler:        p.handler,
		UpgradeRequest: upgrade,
		Settings:       settings,
	})
}

// forwardH2 forwards an HTTP/2 request to a backend over HTTP/1.1.
func (p *Proxy) forwardH2(w *recorder, r *http.Request, st *reqState) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)

	h := &req.Header
	h.SetMethod(r.Method)
	h.SetRequestURI(r.URL.RequestURI())
	h.SetHost(r.Host)
	for k, vv := range r.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	forwardHeader(h, ip, r.TLS != nil, false)
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		n := int(r.ContentLength)
		if n < 0 {
			n = -1
		}
		req.SetBodyStream(r.Body, n)
	}
	req.UseHostHeader = true

	gone := func() bool { return r.Context().Err() != nil }
	on1xx := func(rh *fasthttp.ResponseHeader) {
		// Informational responses (103 Early Hints) go on to the client.
		cleanResponseHeader(rh)
		wh := w.Header()
		for k, v := range rh.All() {
			wh.Add(string(k), string(v))
		}
		w.WriteHeader(rh.StatusCode())
		clear(wh)
	}
	bc, err := p.exchange(req, resp, st, gone, on1xx)
	if err != nil {
		p.errorPage(w, r, st.app, err)
		return
	}
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		bc.c.Close()
		p.log.Warn("forwarding failed", "app", st.app, "err", "backend switched protocols unasked")
		page(w, http.StatusBadGateway, "%s answered with an error", st.app)
		return
	}
	closing := cleanResponseHeader(&resp.Header)
	wh := w.Header()
	var trailers []string
	for k, v := range resp.Header.All() {
		switch string(k) {
		case "Transfer-Encoding":
		case "Trailer":
			for _, t := range strings.Split(string(v), ",") {
				if t = strings.TrimSpace(t); t != "" {
					trailers = append(trailers, http.CanonicalHeaderKey(t))
				}
			}
		default:
			wh.Add(string(k), string(v))
		}
	}
	body := hasBody(r.Method == http.MethodHead, &resp.Header)
	if len(trailers) > 0 && body {
		wh["Trailer"] = []string{strings.Join(trailers, ", ")}
	}
	w.WriteHeader(resp.StatusCode())
	if !body {
		if closing || bc.br.Buffered() > 0 {
			bc.c.Close()
		} else {
			p.pool.put(bc)
		}
		return
	}
	bb := p.newBackendBody(bc, &resp.Header, closing)
	defer bb.Close()
	// A response without a length (a stream) or an event stream goes on
	// as it comes.
	flush := resp.Header.ContentLength() < 0 || strings.HasPrefix(string(resp.Header.ContentType()), "text/event-stream")
	if err := copyBody(w, bb, flush); err != nil {
		// The response has begun: all that is left is to cut it short.
		panic(http.ErrAbortHandler)
	}
	for _, k := range trailers {
		if v := resp.Header.Peek(k); v != nil {
			wh.Set(k, string(v))
		}
	}
}

// copyBody copies a response body with a pooled buffer. Write errors (the
// client is gone) and read errors both end it.
func copyBody(w *recorder, body *backendBody, flush bool) error {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := body.Read(*buf)
		if n > 0 {
			if _, werr := w.Write((*buf)[:n]); werr != nil {
				return werr
			}
			if flush {
				w.Flush()
			}
		}
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
