package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The direct path forwards the most common request, a GET or HEAD without
// a body, over a pooled HTTP/1.1 backend connection from the handler's own
// goroutine. net/http's Transport serves each backend connection with a
// read and a write goroutine, and ReverseProxy clones the request, its
// headers and its context; after the system calls, those hand-offs and
// copies were the largest cost per request (bench/proxy). Everything else
// (bodies, upgrades, gRPC) still goes through ReverseProxy; both paths send
// the backend the same headers and pass back the same response.

// idleTimeout closes pooled backend connections unused this long.
const idleTimeout = 90 * time.Second

// max1xx bounds the informational responses passed on for one request.
const max1xx = 5

// canDirect reports a request the direct path handles.
func canDirect(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		r.ContentLength == 0 && len(r.TransferEncoding) == 0 &&
		len(r.Header["Upgrade"]) == 0 && len(r.Header["Expect"]) == 0 &&
		validHost(r.Host)
}

// validHost is the host check the Transport makes before writing a request.
func validHost(h string) bool {
	return h != "" && httpguts.ValidHostHeader(h)
}

// backendConn is a pooled HTTP/1.1 connection to one backend.
type backendConn struct {
	addr   string
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// connPool keeps idle backend connections, newest last per backend.
type connPool struct {
	mu     sync.Mutex
	idle   map[string][]*backendConn
	max    int
	dialer net.Dialer
}

func newConnPool(max int, dialTimeout time.Duration) *connPool {
	return &connPool{
		idle:   map[string][]*backendConn{},
		max:    max,
		dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
	}
}

// get returns an idle connection to addr, or nil.
func (p *connPool) get(addr string) *backendConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[addr]
	for len(l) > 0 {
		bc := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		if time.Since(bc.idleAt) < idleTimeout {
			p.idle[addr] = l
			return bc
		}
		bc.c.Close()
	}
	p.idle[addr] = l
	return nil
}

// dial connects to addr; a failure is a dialError, so the next backend
// can be tried.
func (p *connPool) dial(ctx context.Context, addr string) (*backendConn, error) {
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &dialError{backend: addr, err: err}
	}
	return &backendConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// put keeps bc for reuse, or closes it when the pool is full or closed;
// the oldest idle connection of the backend goes when it has timed out.
func (p *connPool) put(bc *backendConn) {
	bc.idleAt = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[bc.addr]
	if len(l) >= p.max {
		bc.c.Close()
		return
	}
	if len(l) > 0 && time.Since(l[0].idleAt) >= idleTimeout {
		l[0].c.Close()
		l = append(l[:0], l[1:]...)
	}
	p.idle[bc.addr] = append(l, bc)
}

// retain closes the idle connections to backends not in keep.
func (p *connPool) retain(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.idle {
		if !keep[addr] {
			for _, bc := range l {
				bc.c.Close()
			}
			delete(p.idle, addr)
		}
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() { p.retain(nil) }

// serveDirect forwards r over the direct path. Backends are tried round
// robin from the route's next one, moving on when one cannot be connected
// to or drops the request unanswered (it is a bodiless GET or HEAD), as the
// ReverseProxy path does.
func (p *Proxy) serveDirect(w *recorder, r *http.Request, st *reqState) {
	exhausted, err := p.tryBackends(st, func(b string) (bool, error) {
		err := p.forwardDirect(w, r, b)
		var de *dialError
		return errors.As(err, &de) || (w.status < 200 && retrySafe(r, nil, err)), err
	})
	if err == nil && !exhausted {
		return
	}
	if exhausted {
		err = fmt.Errorf("%w for %s: %w", errNoBackend, st.route.app, err)
	}
	if w.status >= 200 {
		// The response has begun: all that is left is to cut it short.
		panic(http.ErrAbortHandler)
	}
	p.errorPage(w, r, st.app, err)
}

// forwardDirect sends r to backend addr and copies the response to w. An
// idle connection the backend closed meanwhile fails before any byte of
// the answer; the request (a GET or HEAD) is then sent again on a new
// connection, as the Transport does.
func (p *Proxy) forwardDirect(w *recorder, r *http.Request, addr string) error {
	for attempt := 0; ; attempt++ {
		var bc *backendConn
		if attempt == 0 {
			bc = p.direct.get(addr)
		}
		reused := bc != nil
		if !reused {
			var err error
			if bc, err = p.direct.dial(r.Context(), addr); err != nil {
				return err
			}
		}
		// The client leaving ends the wait for the backend and the copy.
		stop := context.AfterFunc(r.Context(), func() { bc.c.SetDeadline(time.Unix(1, 0)) })
		resp, err := p.roundTripDirect(bc, r)
		if err != nil {
			stop()
			bc.c.Close()
			if reused && attempt == 0 && r.Context().Err() == nil && closedBeforeAnswer(err) {
				continue
			}
			return err
		}
		return p.copyDirect(w, r, bc, resp, stop)
	}
}

// closedBeforeAnswer reports the errors of a connection closed by the
// backend before it sent anything.
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// roundTripDirect writes r to bc and reads the response headers, within
// ResponseHeaderTimeout.
func (p *Proxy) roundTripDirect(bc *backendConn, r *http.Request) (*http.Response, error) {
	writeRequest(bc.bw, r)
	if err := bc.bw.Flush(); err != nil {
		return nil, err
	}
	bc.c.SetReadDeadline(time.Now().Add(p.cfg.ResponseHeaderTimeout))
	// A first byte apart: an error before it means the backend closed the
	// connection without answering (ReadResponse would call that an
	// unexpected EOF, like a cut answer).
	if _, err := bc.br.Peek(1); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bc.br, r)
	if err != nil {
		return nil, err
	}
	bc.c.SetReadDeadline(time.Time{})
	return resp, nil
}

// writeRequest writes r as the backend gets it: the client's headers less
// the hop-by-hop ones and any X-Forwarded-* or Forwarded the client sent,
// plus X-Forwarded-For, -Host and -Proto as this proxy saw them.
func writeRequest(bw *bufio.Writer, r *http.Request) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(r.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if skipRequestHeader(k) || listedIn(conn, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n\r\n")
	}
}

// skipRequestHeader is true for the canonical header names never passed
// on as they came.
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// listedIn reports whether the Connection header values conn name k.
func listedIn(conn []string, k string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" && strings.EqualFold(f, k) {
				return true
			}
		}
	}
	return false
}

// copyDirect passes resp to w and returns bc to the pool when the
// response was read whole and the backend keeps the connection open.
// After the headers went out, a failure can only cut the response short.
// stop ends the watch on the client (false: it has left).
func (p *Proxy) copyDirect(w *recorder, r *http.Request, bc *backendConn, resp *http.Response, stop func() bool) error {
	for n1xx := 0; resp.StatusCode >= 100 && resp.StatusCode < 200; n1xx++ {
		if resp.StatusCode == http.StatusSwitchingProtocols || n1xx == max1xx {
			stop()
			bc.c.Close()
			return fmt.Errorf("backend answered %d to a request that did not ask for it", resp.StatusCode)
		}
		// Informational responses (103 Early Hints) go on to the client.
		h := w.Header()
		removeHopByHop(resp.Header)
		for k, vv := range resp.Header {
			h[k] = vv
		}
		w.WriteHeader(resp.StatusCode)
		clear(h)
		var err error
		if resp, err = p.readMore(bc, r); err != nil {
			stop()
			bc.c.Close()
			return err
		}
	}
	removeHopByHop(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		if len(h[k]) == 0 {
			h[k] = vv // resp is this request's own: no need to copy
		} else {
			h[k] = append(h[k], vv...)
		}
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	// A response without a length (a stream) or an event stream goes on
	// as it comes, as ReverseProxy's FlushInterval 0 does.
	flush := resp.ContentLength == -1 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	err := copyBody(w, resp.Body, flush)
	// Bytes after the response are not an answer to anything: such a
	// connection is not reused (the Transport drops it too).
	if !stop() || err != nil || resp.Close || bc.br.Buffered() > 0 {
		bc.c.Close()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	} else {
		p.direct.put(bc)
	}
	if len(resp.Trailer) > 0 {
		h := w.Header()
		for k, vv := range resp.Trailer {
			if len(resp.Trailer) != announced {
				k = http.TrailerPrefix + k
			}
			h[k] = append(h[k], vv...)
		}
	}
	return nil
}

// readMore reads the response after an informational one.
func (p *Proxy) readMore(bc *backendConn, r *http.Request) (*http.Response, error) {
	bc.c.SetReadDeadline(time.Now().Add(p.cfg.ResponseHeaderTimeout))
	resp, err := http.ReadResponse(bc.br, r)
	if err == nil {
		bc.c.SetReadDeadline(time.Time{})
	}
	return resp, err
}

// copyBody copies a response body with a pooled buffer. Write errors (the
// client is gone) and read errors both end it.
func copyBody(w *recorder, body io.ReadCloser, flush bool) error {
	if body == http.NoBody {
		return nil
	}
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
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// removeHopByHop deletes the hop-by-hop headers from h, and those its
// Connection header names.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, f := range hopHeaders {
		delete(h, f)
	}
}
