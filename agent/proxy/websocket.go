package proxy

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// isH2WebSocket reports a WebSocket opened over HTTP/2 by extended CONNECT
// (RFC 8441). Go's HTTP/2 server accepts those only when the process runs
// with GODEBUG=http2xconnect=1; without it clients fall back to HTTP/1.1.
func isH2WebSocket(r *http.Request) bool {
	return r.ProtoMajor == 2 && r.Method == http.MethodConnect &&
		strings.EqualFold(r.Header.Get(":protocol"), "websocket")
}

// hopHeaders are the connection-level headers never forwarded (RFC 9110
// 7.6.1), plus the HTTP/2 pseudo-header Go exposes for extended CONNECT.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	":protocol",
}

// serveH2WebSocket turns an HTTP/2 extended CONNECT into an HTTP/1.1
// WebSocket upgrade to the backend (backends are assumed to speak only
// HTTP/1.1 WebSocket), answers the client 200, and then copies the two
// byte streams: the WebSocket frames pass through unchanged.
func (p *Proxy) serveH2WebSocket(w http.ResponseWriter, r *http.Request, st *reqState) {
	out := &http.Request{
		Method:     http.MethodGet,
		URL:        r.URL,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1,
		Header: r.Header.Clone(),
		Host:   r.Host,
	}
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		out.Header.Del(h)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", ip)
	}
	out.Header.Set("X-Forwarded-Host", r.Host)
	out.Header.Set("X-Forwarded-Proto", "https")
	if r.TLS == nil {
		out.Header.Set("X-Forwarded-Proto", "http")
	}
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", "websocket")
	var key [16]byte
	_, _ = rand.Read(key[:])
	out.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key[:]))
	if out.Header.Get("Sec-WebSocket-Version") == "" {
		out.Header.Set("Sec-WebSocket-Version", "13")
	}

	conn, err := p.dialBackend(r, st)
	if err != nil {
		page(w, http.StatusBadGateway, "no instance of %s could be reached", st.app)
		return
	}
	defer conn.Close()
	// The exchange of headers is bounded; the stream after it is not.
	_ = conn.SetDeadline(time.Now().Add(p.cfg.ResponseHeaderTimeout))
	br := bufio.NewReader(conn)
	resp, err := func() (*http.Response, error) {
		if err := out.Write(conn); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, out)
	}()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			page(w, http.StatusGatewayTimeout, "%s did not answer in time", st.app)
			return
		}
		page(w, http.StatusBadGateway, "%s answered with an error", st.app)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	for k, vv := range resp.Header {
		w.Header()[k] = vv
	}
	for _, h := range append(hopHeaders, "Sec-Websocket-Accept") {
		w.Header().Del(h)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// A refusal (401, 404, ...) goes back as it is.
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}

	// The client ending its side half-closes the backend connection; the
	// stream is over when the backend closes (after the WebSocket close
	// handshake), the client resets it, or the proxy shuts down.
	done := make(chan struct{}, 1)
	go func() {
		_, _ = io.Copy(conn, r.Body)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	go func() {
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		for {
			n, err := br.Read(*buf)
			if n > 0 {
				if _, werr := w.Write((*buf)[:n]); werr != nil {
					break
				}
				if rc.Flush() != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-r.Context().Done():
	case <-p.ctx.Done():
	}
	conn.Close()
}

// dialBackend connects to one of the route's backends, round robin,
// trying the next when one refuses.
func (p *Proxy) dialBackend(r *http.Request, st *reqState) (net.Conn, error) {
	d := net.Dialer{Timeout: p.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var c net.Conn
	_, err := p.tryBackends(st, func(b string) (bool, error) {
		var err error
		c, err = d.DialContext(r.Context(), "tcp", b)
		return true, err
	})
	return c, err
}
