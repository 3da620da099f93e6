package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
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
func (p *Proxy) Serve(ctx context.Context, plain, secure net.Listener) error {
	if plain == nil && secure == nil {
		return errors.New("proxy: no listener to serve")
	}
	defer p.cancel()
	defer p.stopACME()

	base := func(net.Listener) context.Context { return p.ctx }
	var servers []*http.Server
	errc := make(chan error, 2)
	if plain != nil {
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true) // h2c with prior knowledge
		srv := p.newServer(base)
		srv.Protocols = &protos
		// The standard server takes h2c by prior knowledge only; h2c
		// handles the HTTP/1.1 "Upgrade: h2c" way in.
		srv.Handler = h2c.NewHandler(p.handler, &http2.Server{
			MaxReadFrameSize: 1 << 20,
			IdleTimeout:      p.cfg.IdleTimeout,
		})
		servers = append(servers, srv)
		p.acme.mu.Lock()
		p.acme.httpAddr = plain.Addr().String()
		p.acme.mu.Unlock()
		p.syncACME()
		p.log.Info("serving http", "addr", plain.Addr().String())
		go func() { errc <- srv.Serve(plain) }()
	}
	if secure != nil {
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetHTTP2(true)
		srv := p.newServer(base)
		srv.Protocols = &protos
		srv.Handler = p.handler
		srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: p.getCertificate,
			NextProtos:     []string{"h2", "http/1.1"},
		}
		servers = append(servers, srv)
		p.log.Info("serving https", "addr", secure.Addr().String())
		go func() { errc <- srv.ServeTLS(secure, "", "") }()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("serving: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			p.log.Warn("closing connections left after shutdown timeout", "err", serr)
			srv.Close()
		}
	}
	// Hijacked and upgraded streams are not the servers' any more; ending
	// the base context ends them.
	p.cancel()
	p.h1.CloseIdleConnections()
	p.direct.closeIdle()
	p.h2c.CloseIdleConnections()
	return err
}

func (p *Proxy) newServer(base func(net.Listener) context.Context) *http.Server {
	return &http.Server{
		ReadHeaderTimeout: p.cfg.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.IdleTimeout,
		MaxHeaderBytes:    p.cfg.MaxHeaderBytes,
		BaseContext:       base,
		ErrorLog:          serverErrorLog(p.log),
		HTTP2: &http.HTTP2Config{
			MaxReadFrameSize: 1 << 20,
		},
	}
}
