package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// Run listens on cfg.HTTPAddr and cfg.HTTPSAddr and serves until ctx ends,
// then shuts down: new connections stop at once, requests in flight get
// ShutdownTimeout to finish, and whatever is left (long streams,
// WebSockets) is closed.
func (p *Proxy) Run(ctx context.Context) error {
	var plain, secure net.Listener
	var err error
	if p.cfg.HTTPAddr != "" {
		if plain, err = net.Listen("tcp", p.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listening for http: %w", err)
		}
	}
	if p.cfg.HTTPSAddr != "" {
		if secure, err = net.Listen("tcp", p.cfg.HTTPSAddr); err != nil {
			if plain != nil {
				plain.Close()
			}
			return fmt.Errorf("listening for https: %w", err)
		}
	}
	return p.Serve(ctx, plain, secure)
}

// Serve is Run on listeners the caller opened (either may be nil). It
// takes ownership of them.
//
// Connections are sorted as they come: on the TLS listener by the
// protocol ALPN picked, on the plain one by whether they open with the
// HTTP/2 preface (h2c by prior knowledge). HTTP/1.1 goes to one fasthttp
// server (h1.go), HTTP/2 to net/http's server (h2.go).
func (p *Proxy) Serve(ctx context.Context, plain, secure net.Listener) error {
	if plain == nil && secure == nil {
		return errors.New("proxy: no listener to serve")
	}
	defer p.cancel()
	defer p.stopACME()

	addr := plain
	if addr == nil {
		addr = secure
	}
	h1 := p.newH1Server()
	h1ln, h2ln := newConnListener(addr.Addr()), newConnListener(addr.Addr())
	front, err := newLoopFront(p, h1ln.push)
	if err != nil {
		return fmt.Errorf("starting the event loops: %w", err)
	}
	p.front.Store(front)
	defer front.close()
	errc := make(chan error, 4)
	go func() { errc <- h1.Serve(h1ln) }()
	go func() { errc <- p.h2.Serve(h2ln) }()
	if plain != nil {
		p.acme.mu.Lock()
		p.acme.httpAddr = plain.Addr().String()
		p.acme.mu.Unlock()
		p.syncACME()
		p.log.Info("serving http", "addr", plain.Addr().String())
		go func() { errc <- accept(plain, func(c net.Conn) { p.sniff(c, h1ln, h2ln) }) }()
	}
	if secure != nil {
		cfg := &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: p.getCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
		}
		p.log.Info("serving https", "addr", secure.Addr().String())
		go func() { errc <- accept(secure, func(c net.Conn) { p.handshake(c, cfg, h1ln, h2ln) }) }()
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serving: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	for _, ln := range []net.Listener{plain, secure} {
		if ln != nil {
			ln.Close()
		}
	}
	// GOAWAY to HTTP/2 clients, then wait for the requests in flight.
	_ = p.h2upBase.Shutdown(sctx)
	var wg sync.WaitGroup
	wg.Go(func() { front.drain(sctx) })
	wg.Go(func() {
		if serr := p.h2.Shutdown(sctx); serr != nil {
			p.h2.Close()
		}
	})
	if serr := h1.ShutdownWithContext(sctx); serr != nil {
		p.log.Warn("closing connections left after shutdown timeout", "err", serr)
	}
	wg.Wait()
	h2done := make(chan struct{})
	go func() { p.h2conns.Wait(); close(h2done) }()
	select {
	case <-h2done:
	case <-sctx.Done():
	}
	// Hijacked and upgraded streams, and whatever outlived the timeout,
	// end here.
	p.cancel()
	p.closeConns()
	p.pool.closeIdle()
	p.h2c.CloseIdleConnections()
	return err
}

// accept accepts connections from ln and hands each to sort in a
// goroutine of its own, until ln is closed.
func accept(ln net.Listener, sort func(net.Conn)) error {
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				// Out of file descriptors and the like: wait, as net/http does.
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		tempDelay = 0
		go sort(c)
	}
}

// handshake runs the TLS handshake of c, within ReadHeaderTimeout, and
// hands the connection to the server of the protocol ALPN picked.
func (p *Proxy) handshake(c net.Conn, cfg *tls.Config, h1, h2 *connListener) {
	mc := &memConn{Conn: c}
	tc := tls.Server(mc, cfg)
	_ = c.SetDeadline(time.Now().Add(p.cfg.ReadHeaderTimeout))
	if err := tc.HandshakeContext(p.ctx); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		h2.push(tc)
		return
	}
	if f := p.front.Load(); f != nil && isTCP(c) {
		f.serveTLS(c, tc, mc)
		return
	}
	h1.push(tc)
}

// looksLikeHTTP reports a TLS record header that is the start of a plain
// HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// sniff reads the start of c, within ReadHeaderTimeout, to tell h2c from
// HTTP/1.1, and hands it on with what was read put back.
func (p *Proxy) sniff(c net.Conn, h1, h2 *connListener) {
	_ = c.SetReadDeadline(time.Now().Add(p.cfg.ReadHeaderTimeout))
	br := bufio.NewReaderSize(c, 64)
	preface := []byte(http2.ClientPreface)
	b, err := br.Peek(1)
	if err == nil {
		b, _ = br.Peek(br.Buffered())
		if len(b) < len(preface) && bytes.HasPrefix(preface, b) {
			// It may be the preface, or a request that starts like it.
			b, err = br.Peek(len(preface))
			if errors.Is(err, bufio.ErrBufferFull) {
				err = nil
			}
		}
	}
	if err != nil && len(b) == 0 {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if bytes.HasPrefix(b, preface) {
		h2.push(&sniffedConn{Conn: c, r: br})
		return
	}
	if f := p.front.Load(); f != nil && isTCP(c) {
		first, _ := br.Peek(br.Buffered())
		f.serve(c, bytes.Clone(first))
		return
	}
	h1.push(&sniffedConn{Conn: c, r: br})
}

// isTCP reports a TCP connection, which the event loops can take over.
func isTCP(c net.Conn) bool {
	_, ok := c.(*net.TCPConn)
	return ok
}

// sniffedConn is a connection whose first bytes were read to sort it.
type sniffedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *sniffedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// NetConn returns the connection underneath.
func (c *sniffedConn) NetConn() net.Conn { return c.Conn }

// connListener hands sorted connections to a server's Serve.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// trackH1 keeps fasthttp's connections in p.conns; hijacked ones are
// released by whoever took them.
func (p *Proxy) trackH1(c net.Conn, s fasthttp.ConnState) {
	switch s {
	case fasthttp.StateNew:
		p.hold(c)
	case fasthttp.StateClosed:
		p.release(c)
	}
}

// hold and release record a connection being served.
func (p *Proxy) hold(c net.Conn) {
	p.connsMu.Lock()
	p.conns[c] = struct{}{}
	p.connsMu.Unlock()
}

func (p *Proxy) release(c net.Conn) {
	p.connsMu.Lock()
	delete(p.conns, c)
	p.connsMu.Unlock()
}

// closeConns closes every connection still served.
func (p *Proxy) closeConns() {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
