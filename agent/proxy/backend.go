package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http/httputil"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Requests reach backends as HTTP/1.1 over pooled keep-alive connections,
// written and parsed with fasthttp's request and response types, from the
// goroutine that serves the client: no per-connection reader and writer
// goroutines, no request clones (net/http's Transport and ReverseProxy
// cost more than the system calls did). gRPC alone goes another way
// (forward.go), since it needs HTTP/2 to the backend.

// max1xx bounds the informational responses read for one request.
const max1xx = 5

// goneCheck is how often a request waiting for a slow backend looks
// whether its client is still there.
const goneCheck = 250 * time.Millisecond

// errClientGone ends a wait for a backend whose client has left.
var errClientGone = errors.New("the client left")

// outRequest is a request on its way to backends.
type outRequest interface {
	// write writes the request, body and all, as HTTP/1.1.
	write(bw *bufio.Writer) error
	// replayable reports a request that may be sent to a second backend
	// when the first dropped it: a bodiless request of an idempotent
	// method.
	replayable() bool
}

// fastRequest is an HTTP/1.1 client's request, already in the form the
// backend gets (forwardHeader).
type fastRequest struct{ *fasthttp.Request }

func (r fastRequest) write(bw *bufio.Writer) error { return r.Write(bw) }

func (r fastRequest) replayable() bool {
	return replayableMethod(r.Header.Method()) && !r.IsBodyStream() && len(r.Body()) == 0
}

// replayableMethod reports the methods a request of which, bodiless, may
// be sent to a second backend: GET, HEAD and OPTIONS.
func replayableMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	return false
}

// exchange sends req to one of st.route's backends, round robin from its
// next one, and reads the response header into resp. The next backend is
// tried when one cannot be connected to (nothing was sent), or when one
// dropped a bodiless GET, HEAD or OPTIONS unanswered. On success the
// returned connection is positioned at the response body; the caller
// hands it to newBackendBody or closes it. gone reports a client that
// left; on1xx, if set, receives informational responses.
func (p *Proxy) exchange(req outRequest, resp *fasthttp.Response, st *reqState, gone func() bool, on1xx func(*fasthttp.ResponseHeader)) (*backendConn, error) {
	replay := req.replayable()
	var bc *backendConn
	exhausted, err := p.tryBackends(st, func(b string) (bool, error) {
		var err error
		bc, err = p.exchangeWith(b, req, resp, replay, gone, on1xx)
		if err == nil {
			return false, nil
		}
		var de *dialError
		return errors.As(err, &de) || (replay && droppedUnanswered(err) && !gone()), err
	})
	if exhausted {
		return nil, noBackend(st.route.app, err)
	}
	return bc, err
}

// exchangeWith is exchange with one backend. An idle connection that the
// backend closed meanwhile (many app servers close idle ones after a few
// seconds) is not an answer: a replayable request is sent again on a new
// connection, and a request with a body never goes on one that the
// kernel already knows is closed.
func (p *Proxy) exchangeWith(addr string, req outRequest, resp *fasthttp.Response, replay bool, gone func() bool, on1xx func(*fasthttp.ResponseHeader)) (*backendConn, error) {
	for attempt := 0; ; attempt++ {
		var bc *backendConn
		if attempt == 0 {
			bc = p.pool.get(addr)
			if bc != nil && !replay && peerClosed(bc.c) {
				bc.c.Close()
				bc = nil
			}
		}
		reused := bc != nil
		if !reused {
			var err error
			if bc, err = p.pool.dial(addr); err != nil {
				return nil, err
			}
		}
		err := p.roundTrip(bc, req, resp, gone, on1xx)
		if err == nil {
			return bc, nil
		}
		bc.c.Close()
		if reused && attempt == 0 && replay && closedBeforeAnswer(err) && !gone() {
			continue
		}
		return nil, err
	}
}

// roundTrip writes req to bc and reads the response header, within
// ResponseHeaderTimeout.
func (p *Proxy) roundTrip(bc *backendConn, req outRequest, resp *fasthttp.Response, gone func() bool, on1xx func(*fasthttp.ResponseHeader)) error {
	if err := req.write(bc.bw); err != nil {
		return err
	}
	if err := bc.bw.Flush(); err != nil {
		return err
	}
	if err := p.awaitAnswer(bc, gone); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if err := resp.Header.Read(bc.br); err != nil {
			return err
		}
		code := resp.StatusCode()
		if code >= 200 || code == fasthttp.StatusSwitchingProtocols {
			break
		}
		if n == max1xx {
			return fmt.Errorf("backend sent more than %d informational responses", max1xx)
		}
		if on1xx != nil {
			on1xx(&resp.Header)
		}
	}
	// The read deadline stays: the next request sets its own, and a body
	// streamed on sets none (newBackendBody).
	return nil
}

// awaitAnswer waits for the first byte of the response. A backend that
// takes its time has its client checked every goneCheck, so a client that
// leaves frees the backend connection (and the backend, which sees it
// close) at once, not after ResponseHeaderTimeout.
func (p *Proxy) awaitAnswer(bc *backendConn, gone func() bool) error {
	start := time.Now()
	deadline := start.Add(p.cfg.ResponseHeaderTimeout)
	for step := start; ; {
		step = step.Add(goneCheck)
		if step.After(deadline) {
			step = deadline
		}
		if err := bc.c.SetReadDeadline(step); err != nil {
			return err
		}
		_, err := bc.br.Peek(1)
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !step.Before(deadline) {
			return err
		}
		if gone() {
			return errClientGone
		}
	}
}

// closedBeforeAnswer reports the errors of a connection closed by the
// backend before it sent anything.
func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// droppedUnanswered reports a backend that broke the connection without
// answering (it died, or was stopped, under the request). A timeout is
// not one: the backend may be working on the request.
func droppedUnanswered(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return closedBeforeAnswer(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// forwardHeader turns a client's request header into the backend's: the
// hop-by-hop headers (and those Connection names) go, and so does anything
// the client said about forwarding, since at the edge it cannot be
// trusted; X-Forwarded-For, -Host and -Proto then say what this proxy saw.
// An upgrade keeps its Connection and Upgrade headers.
func forwardHeader(h *fasthttp.RequestHeader, clientIP string, https, upgrade bool) {
	trailers := hasToken(h.Peek("Te"), []byte("trailers"))
	conn := h.Peek("Connection")
	dropHeaders(h, func(k []byte) bool {
		switch string(k) {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te",
			"Expect", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Http2-Settings":
			// Expect was answered here already.
			return true
		case "Upgrade":
			return !upgrade
		}
		return hasToken(conn, k)
	})
	if upgrade {
		h.Set("Connection", "Upgrade")
	}
	if trailers {
		h.Set("Te", "trailers")
	}
	h.Set("X-Forwarded-Host", string(h.Host()))
	if clientIP != "" {
		h.Set("X-Forwarded-For", clientIP)
	}
	if https {
		h.Set("X-Forwarded-Proto", "https")
	} else {
		h.Set("X-Forwarded-Proto", "http")
	}
}

// cleanResponseHeader removes the hop-by-hop headers of a backend's
// response (keeping Upgrade on a 101) and reports whether the backend
// asked to close the connection.
func cleanResponseHeader(h *fasthttp.ResponseHeader) (closing bool) {
	closing = h.ConnectionClose()
	upgrade := h.StatusCode() == fasthttp.StatusSwitchingProtocols
	conn := h.Peek("Connection")
	dropHeaders(h, func(k []byte) bool {
		switch string(k) {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Te":
			return true
		case "Upgrade":
			return !upgrade
		}
		return hasToken(conn, k)
	})
	if upgrade {
		h.Set("Connection", "Upgrade")
	}
	return closing
}

// fastHeader is what fasthttp's request and response headers share.
type fastHeader interface {
	All() iter.Seq2[[]byte, []byte]
	Peek(key string) []byte
	DelBytes(key []byte)
	AddBytesKV(key, value []byte)
}

// dropHeaders deletes the headers drop names from h and keeps the others
// in their order. fasthttp's Del moves the last header into the deleted
// one's place: harmless between different names, but it can reverse the
// values of one name (Accept: a, Accept: b). So when a name repeats, every
// other header is taken out and added back in order. Content-Length,
// Transfer-Encoding and Trailer frame the body and fasthttp writes them
// anew; they and the other fields fasthttp keeps apart are left alone.
func dropHeaders(h fastHeader, drop func(k []byte) bool) {
	var names [32][]byte
	n, found, repeats := 0, 0, false
	for k := range h.All() {
		switch {
		case drop(k):
			found++
		case keptApart(k):
		case n == len(names):
			repeats = true
		default:
			for _, m := range names[:n] {
				repeats = repeats || bytes.Equal(m, k)
			}
			names[n] = k
			n++
		}
	}
	if found == 0 {
		return
	}
	var del, kept [][]byte // kept: key, value, key, value...
	for k, v := range h.All() {
		switch {
		case drop(k):
			del = append(del, bytes.Clone(k))
		case keptApart(k) || !repeats:
		default:
			del = append(del, bytes.Clone(k))
			kept = append(kept, bytes.Clone(k), bytes.Clone(v))
		}
	}
	for _, k := range del {
		h.DelBytes(k)
	}
	for i := 0; i < len(kept); i += 2 {
		h.AddBytesKV(kept[i], kept[i+1])
	}
}

// keptApart reports the headers fasthttp keeps in fields of their own (or
// writes itself), which deleting and adding back would disturb.
func keptApart(k []byte) bool {
	switch string(k) {
	case "Host", "Content-Length", "Content-Type", "Content-Encoding", "User-Agent", "Cookie", "Set-Cookie",
		"Server", "Trailer", "Transfer-Encoding":
		return true
	}
	return false
}

// hasToken reports whether the comma-separated list v holds token.
func hasToken(v, token []byte) bool {
	for len(v) > 0 {
		var f []byte
		f, v, _ = bytes.Cut(v, []byte(","))
		if f = bytes.TrimSpace(f); bytes.EqualFold(f, token) {
			return true
		}
	}
	return false
}

// hasBody reports whether a response to a request of this method and with
// this header carries a body.
func hasBody(head bool, h *fasthttp.ResponseHeader) bool {
	code := h.StatusCode()
	return !head && code != fasthttp.StatusNoContent && code != fasthttp.StatusNotModified && code >= 200
}

// readWhole reads the body of resp, of known length, whole from bc, and
// gives bc back to the pool or closes it. The body usually came with the
// header; if not, it comes at the backend's pace.
func (p *Proxy) readWhole(bc *backendConn, resp *fasthttp.Response, closing bool) error {
	if bc.br.Buffered() < resp.Header.ContentLength() {
		_ = bc.c.SetReadDeadline(time.Time{})
	}
	err := resp.ReadBody(bc.br, 0)
	if err == nil && !closing && bc.br.Buffered() == 0 {
		p.pool.put(bc)
	} else {
		bc.c.Close()
	}
	return err
}

// backendBody streams a response body from its backend connection, and
// gives the connection back to the pool when the body was read whole and
// the backend keeps it open (Close). The trailers of a chunked body are
// read into h when the body ends.
type backendBody struct {
	p     *Proxy
	bc    *backendConn
	r     io.Reader
	h     *fasthttp.ResponseHeader
	left  int64 // bytes still to come of a Content-Length body; -1 otherwise
	chunk bool
	keep  bool
	eof   bool
	n     int64
	// closed, if set, is called once by Close with the bytes read.
	closed func(n int64)
}

// newBackendBody prepares the body of resp, whose header was read from bc.
func (p *Proxy) newBackendBody(bc *backendConn, h *fasthttp.ResponseHeader, closing bool) *backendBody {
	// The body comes at the backend's pace.
	_ = bc.c.SetReadDeadline(time.Time{})
	b := &backendBody{p: p, bc: bc, h: h, left: -1, keep: !closing}
	switch cl := h.ContentLength(); {
	case cl >= 0:
		b.left = int64(cl)
		b.r = bc.br
	case cl == -1:
		b.chunk = true
		b.r = httputil.NewChunkedReader(bc.br)
	default: // to the end of the connection
		b.keep = false
		b.r = bc.br
	}
	return b
}

func (b *backendBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.left == 0 {
		b.eof = true
		return 0, io.EOF
	}
	if b.left > 0 && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.left > 0 {
		b.left -= int64(n)
		if err == io.EOF && b.left > 0 {
			err = io.ErrUnexpectedEOF
		} else if b.left == 0 && err == nil {
			b.eof = true
			err = io.EOF
		}
	}
	if err == io.EOF && b.chunk {
		if terr := b.h.ReadTrailer(b.bc.br); terr != nil {
			return n, fmt.Errorf("reading trailers: %w", terr)
		}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// Close returns the connection to the pool, or closes it when the body was
// not read whole, the backend asked to close it, or it holds bytes after
// the response (not an answer to anything).
func (b *backendBody) Close() error {
	if b.bc == nil {
		return nil
	}
	if b.eof && b.keep && b.bc.br.Buffered() == 0 {
		b.p.pool.put(b.bc)
	} else {
		b.bc.c.Close()
	}
	b.bc = nil
	if b.closed != nil {
		b.closed(b.n)
	}
	return nil
}

// backendConn is a pooled HTTP/1.1 connection to one backend.
type backendConn struct {
	addr   string
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}
