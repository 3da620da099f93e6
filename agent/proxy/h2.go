package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// HTTP/2 connections, ALPN h2 over TLS and h2c by prior knowledge, are
// served by net/http's server (its bundled HTTP/2), which run.go hands
// them to; h2c by Upgrade, which net/http does not take, by x/net's
// HTTP/2 server. Requests go to serveHTTP and from there, but for gRPC
// and WebSockets, to forwardH2: the same HTTP/1.1 exchange with backends
// as HTTP/1.1 clients get.

func (p *Proxy) setupH2() {
	var protos http.Protocols
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	p.h2 = &http.Server{
		Handler:           p.handler,
		Protocols:         &protos,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return p.ctx },
		ErrorLog:          serverErrorLog(p.log),
		HTTP2:             &http.HTTP2Config{MaxReadFrameSize: 1 << 20},
	}
	p.h2up = &http2.Server{
		MaxReadFrameSize: 1 << 20,
		IdleTimeout:      p.cfg.IdleTimeout,
	}
	p.h2upBase = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		ErrorLog:          serverErrorLog(p.log),
	}
	// Registers x/net's graceful shutdown (GOAWAY) with
	// h2upBase.Shutdown; h2upBase itself serves nothing.
	_ = http2.ConfigureServer(p.h2upBase, p.h2up)
}

// serveH2Upgrade serves c, whose client asked for h2c by Upgrade and got
// 101, as an HTTP/2 connection until it ends; upgrade is the request
// that asked, answered on stream 1.
func (p *Proxy) serveH2Upgrade(c net.Conn, upgrade *http.Request, settings []byte) {
	p.hold(c)
	defer p.release(c)
	p.h2conns.Add(1)
	defer p.h2conns.Done()
	p.h2up.ServeConn(c, &http2.ServeConnOpts{
		Context:        p.ctx,
		BaseConfig:     p.h2upBase,
		Handler:        p.handler,
		UpgradeRequest: upgrade,
		Settings:       settings,
	})
}

// forwardH2 forwards an HTTP/2 request to a backend over HTTP/1.1.
func (p *Proxy) forwardH2(w *recorder, r *http.Request, st *reqState) {
	uri := r.URL.RequestURI()
	if !httpguts.ValidHostHeader(r.Host) || strings.IndexByte(uri, ' ') >= 0 {
		page(w, http.StatusBadRequest, "malformed request")
		return
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req := &h2Request{r: r, uri: uri}
	gone := func() bool { return r.Context().Err() != nil }
	on1xx := func(rh *fasthttp.ResponseHeader) { pass1xx(w, rh) }
	bc, err := p.exchange(req, resp, st, gone, on1xx)
	if err != nil {
		p.errorPage(w, r, st.app, err)
		return
	}
	p.respondH2(w, r, st, bc, resp)
}

// pass1xx passes an informational response (103 Early Hints) on to an
// HTTP/2 client.
func pass1xx(w *recorder, rh *fasthttp.ResponseHeader) {
	cleanResponseHeader(rh)
	wh := w.Header()
	for k, v := range rh.All() {
		wh.Add(string(k), string(v))
	}
	w.WriteHeader(rh.StatusCode())
	clear(wh)
}

// respondH2 passes the backend's response, whose header was read into
// resp from bc, on to an HTTP/2 client. (A function of its own, so its
// locals are not on the stack while the backend is waited for: every
// HTTP/2 request has a new goroutine, and a deeper stack than it starts
// with costs a copy each time.)
func (p *Proxy) respondH2(w *recorder, r *http.Request, st *reqState, bc *backendConn, resp *fasthttp.Response) {
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
			// fasthttp gives names in canonical form.
			wh[string(k)] = append(wh[string(k)], string(v))
		}
	}
	body := hasBody(r.Method == http.MethodHead, &resp.Header)
	if len(trailers) > 0 && body {
		wh["Trailer"] = []string{strings.Join(trailers, ", ")}
	}
	if cl := resp.Header.ContentLength(); body && cl >= 0 && cl <= smallBody {
		// As for HTTP/1.1 clients (routeH1): read whole, the connection
		// back in the pool before the client is written to.
		if err := p.readWhole(bc, resp, closing); err != nil {
			clear(wh)
			p.log.Warn("forwarding failed", "app", st.app, "err", err)
			page(w, http.StatusBadGateway, "%s answered with an error", st.app)
			return
		}
		w.WriteHeader(resp.StatusCode())
		_, _ = w.Write(resp.Body())
		return
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

// h2Request is an HTTP/2 client's request as its backend gets it over
// HTTP/1.1: written straight from the http.Request, with the headers
// forwardHeader makes for HTTP/1.1 clients (hop-by-hop ones and what the
// client said about forwarding dropped, X-Forwarded-* as seen here).
type h2Request struct {
	r   *http.Request
	uri string
}

func (o *h2Request) body() bool {
	return o.r.Body != nil && o.r.Body != http.NoBody && o.r.ContentLength != 0
}

func (o *h2Request) replayable() bool {
	return replayableMethod([]byte(o.r.Method)) && !o.body()
}

func (o *h2Request) write(bw *bufio.Writer) error {
	r := o.r
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(o.uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if skipH2Header(k) || listedIn(conn, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	for _, v := range r.Header["Te"] {
		if hasToken([]byte(v), []byte("trailers")) {
			bw.WriteString("Te: trailers\r\n")
			break
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	if !o.body() {
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			bw.WriteString("Content-Length: 0\r\n")
		}
		_, err := bw.WriteString("\r\n")
		return err
	}
	return o.writeBody(bw)
}

// writeBody writes the framing header fields and the body.
func (o *h2Request) writeBody(bw *bufio.Writer) error {
	r := o.r
	if r.ContentLength > 0 {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		_, err := io.CopyN(bw, r.Body, r.ContentLength)
		return err
	}
	// Of unknown length: chunked, each piece sent on as it comes (the
	// client may be streaming).
	bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	for {
		n, err := r.Body.Read(*buf)
		if n > 0 {
			fmt.Fprintf(bw, "%x\r\n", n)
			bw.Write((*buf)[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, err = bw.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return err
		}
	}
}

// skipH2Header is true for the canonical header names not passed on as
// they came: hop-by-hop ones, what frames the body (written anew), what
// the client said about forwarding, and Expect (answered here).
func skipH2Header(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Expect", "Http2-Settings",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// listedIn reports whether the Connection header values conn name k.
func listedIn(conn []string, k string) bool {
	for _, v := range conn {
		if hasToken([]byte(v), []byte(k)) {
			return true
		}
	}
	return false
}
