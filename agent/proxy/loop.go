package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/valyala/fasthttp"
)

// The event loop. HTTP/1.1 clients' plain requests without a body, the
// bulk of what a proxy carries, are forwarded by a few event loops (gnet)
// the way nginx does it: each loop waits on epoll for all its client and
// backend connections at once, and a request is read, forwarded, answered
// and written without a goroutine switch or a read that finds nothing.
// Anything else (a body, an upgrade, an answer too large to hold, a
// request that does not parse, a host without an app) is handed, with the
// bytes already read, to the goroutine-per-connection server (h1.go), which
// serves the connection from then on; so the loop is only ever a faster
// way to the same answers.

// loopTick is how often each loop looks for connections past a deadline.
const loopTick = 250 * time.Millisecond

// loopFront runs the event loops.
type loopFront struct {
	gnet.BuiltinEventEngine
	p       *Proxy
	cli     *gnet.Client
	handoff func(net.Conn) // to the HTTP/1.1 server
	loops   sync.Map       // gnet.EventLoop -> *loopState
	// clients counts the client connections the loops hold; draining
	// closes each once it has no request in flight (shutdown).
	clients  atomic.Int64
	draining atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

// loopState is one loop's own: touched only from the loop.
type loopState struct {
	el    gnet.EventLoop
	idle  map[string][]*loopBackend
	conns map[*loopClient]struct{}
	out   []byte
}

// loopClient is a client connection served by a loop.
type loopClient struct {
	c      gnet.Conn
	ls     *loopState
	https  bool
	in     []byte // read, not yet handled
	base   []byte // in's buffer, reused between requests
	req    rawRequest
	outReq []byte // the request as its backend gets it
	st     reqState
	be     *loopBackend // serving the request in flight
	// first is the request's first backend (an index into its route's),
	// tries the backends tried, fresh whether the last try was on a new
	// connection.
	first uint64
	tries int
	fresh bool
	start time.Time
	// deadline ends a wait: for a request's header (408), a backend's
	// answer (504), or the next request (closed).
	deadline time.Time
	ip       string
	gone     bool // closed or handed off
	// tls, over mc, is the client's TLS connection; nil for plain HTTP.
	tls *tls.Conn
	mc  *memConn
}

// loopBackend is a connection to a backend, in a loop.
type loopBackend struct {
	c      gnet.Conn
	addr   string
	client *loopClient // whose request it carries; nil when idle
	in     []byte
	resp   rawResponse
	hlen   int // the length of resp's head in in; 0 until it is read
	idleAt time.Time
}

func newLoopFront(p *Proxy, handoff func(net.Conn)) (*loopFront, error) {
	f := &loopFront{p: p, handoff: handoff, stop: make(chan struct{})}
	// One loop per core, as nginx has a worker per core. The loops are
	// not locked to threads: gnet yields between polls, and a locked
	// thread would hand its P over through a futex each time.
	cli, err := gnet.NewClient(f, gnet.WithNumEventLoop(runtime.NumCPU()),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(gnetLogger{}), gnet.WithReadBufferCap(64<<10))
	if err != nil {
		return nil, err
	}
	f.cli = cli
	if err := cli.Start(); err != nil {
		return nil, err
	}
	f.wg.Go(f.ticker)
	return f, nil
}

// close stops the loops, closing every connection they hold.
func (f *loopFront) close() {
	close(f.stop)
	f.wg.Wait()
	_ = f.cli.Stop()
}

// drain lets the requests in flight finish, closing each connection as
// its answer goes out and idle ones at once, until none is left or ctx
// ends.
func (f *loopFront) drain(ctx context.Context) {
	f.draining.Store(true)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for f.clients.Load() > 0 {
		f.onEachLoop(func(ls *loopState) {
			for lc := range ls.conns {
				if lc.be == nil && len(lc.in) == 0 {
					closeNow(lc.c)
				}
			}
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retain closes, in every loop, the idle connections to backends not in
// keep (the table changed).
func (f *loopFront) retain(keep map[string]bool) {
	f.onEachLoop(func(ls *loopState) {
		for addr, l := range ls.idle {
			if !keep[addr] {
				delete(ls.idle, addr)
				for _, be := range l {
					closeNow(be.c)
				}
			}
		}
	})
}

// onEachLoop runs fn on every loop, on the loop itself.
func (f *loopFront) onEachLoop(fn func(*loopState)) {
	f.loops.Range(func(_, v any) bool {
		ls := v.(*loopState)
		_ = ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			fn(ls)
			return nil
		}))
		return true
	})
}

// ticker has each loop check its deadlines.
func (f *loopFront) ticker() {
	t := time.NewTicker(loopTick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		f.onEachLoop(func(ls *loopState) { f.expire(ls, time.Now()) })
	}
}

// serve takes over c, whose first bytes (read to sort it) are in first.
func (f *loopFront) serve(c net.Conn, first []byte) {
	lc := &loopClient{in: first, ip: remoteIP(c.RemoteAddr())}
	if _, err := f.cli.EnrollContext(c, lc); err != nil {
		f.p.log.Warn("event loop refused a connection", "err", err)
		c.Close()
	}
}

// serveTLS takes over c, whose TLS handshake tc (over mc) has done.
func (f *loopFront) serveTLS(c net.Conn, tc *tls.Conn, mc *memConn) {
	mc.inLoop = true
	lc := &loopClient{https: true, ip: remoteIP(c.RemoteAddr()), tls: tc, mc: mc}
	if _, err := f.cli.EnrollContext(c, lc); err != nil {
		f.p.log.Warn("event loop refused a connection", "err", err)
		c.Close()
	}
}

// write sends b to lc's client, encrypted if it came over TLS.
func (f *loopFront) write(lc *loopClient, b []byte) {
	if lc.tls == nil {
		_, _ = lc.c.Write(b)
		return
	}
	if _, err := lc.tls.Write(b); err != nil {
		closeNow(lc.c)
		return
	}
	_, _ = lc.c.Write(lc.mc.out)
	lc.mc.out = lc.mc.out[:0]
}

// decrypt appends what lc's TLS records hold, as far as they came, to
// lc.in; false when the connection is over.
func (f *loopFront) decrypt(lc *loopClient, records []byte) bool {
	lc.mc.in = append(lc.mc.in, records...)
	for {
		lc.in = slices.Grow(lc.in, 4<<10)
		n, err := lc.tls.Read(lc.in[len(lc.in):cap(lc.in)])
		lc.in = lc.in[:len(lc.in)+n]
		if errors.Is(err, errWouldBlock) {
			break
		}
		if err != nil {
			return false
		}
	}
	if len(lc.mc.out) > 0 {
		// An answer to a key update, say.
		_, _ = lc.c.Write(lc.mc.out)
		lc.mc.out = lc.mc.out[:0]
	}
	return true
}

func (f *loopFront) state(el gnet.EventLoop) *loopState {
	if v, ok := f.loops.Load(el); ok {
		return v.(*loopState)
	}
	ls := &loopState{el: el, idle: map[string][]*loopBackend{}, conns: map[*loopClient]struct{}{}}
	f.loops.Store(el, ls)
	return ls
}

func (f *loopFront) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *loopClient:
		x.c = c
		x.ls = f.state(c.EventLoop())
		x.ls.conns[x] = struct{}{}
		f.clients.Add(1)
		x.deadline = time.Now().Add(f.p.cfg.ReadHeaderTimeout)
		if x.tls != nil && !f.decrypt(x, nil) {
			// Records read with the handshake may hold a request already.
			closeNow(c)
			return nil, gnet.None
		}
		f.process(x)
	case *loopBackend:
		x.c = c
		if lc := x.client; lc != nil && !lc.gone {
			_, _ = c.Write(lc.outReq)
		} else {
			// Its client left while it was being dialed.
			x.client = nil
			f.park(f.state(c.EventLoop()), x)
		}
	}
	return nil, gnet.None
}

func (f *loopFront) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *loopClient:
		if x.ls != nil {
			delete(x.ls.conns, x)
			f.clients.Add(-1)
		}
		x.gone = true
		if be := x.be; be != nil {
			// The answer has no one to go to. (A connection still being
			// dialed is parked when it opens.)
			be.client, x.be = nil, nil
			if be.c != nil {
				closeNow(be.c)
			}
		}
	case *loopBackend:
		x.c = nil
		if lc := x.client; lc != nil {
			x.client = nil
			lc.be = nil
			f.backendFailed(lc, x, fmt.Errorf("backend %s closed the connection: %w", x.addr, orEOF(err)), len(x.in) == 0)
			return gnet.None
		}
		ls := f.state(c.EventLoop())
		l := ls.idle[x.addr]
		for i, b := range l {
			if b == x {
				ls.idle[x.addr] = append(l[:i], l[i+1:]...)
				break
			}
		}
	}
	return gnet.None
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

func (f *loopFront) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *loopClient:
		b, _ := c.Next(-1)
		if x.be == nil {
			// No request in flight refers to the buffer: start it over.
			x.in = append(x.base[:0], x.in...)
		}
		if x.tls == nil {
			x.in = append(x.in, b...)
		} else if !f.decrypt(x, b) {
			closeNow(c)
			return gnet.None
		}
		if x.be == nil {
			x.base = x.in[:0]
		}
		f.process(x)
	case *loopBackend:
		b, _ := c.Next(-1)
		x.in = append(x.in, b...)
		f.answer(x)
	}
	return gnet.None
}

// process handles lc's next request, if it is whole and none is in flight.
func (f *loopFront) process(lc *loopClient) {
	for !lc.gone && lc.be == nil && len(lc.in) > 0 {
		end := bytes.Index(lc.in, []byte("\r\n\r\n"))
		if end < 0 {
			if len(lc.in) > f.p.cfg.MaxHeaderBytes || bytes.Contains(lc.in, []byte("\n\n")) {
				f.toServer(lc)
			}
			return
		}
		end += 4
		if end > f.p.cfg.MaxHeaderBytes || !f.takeRequest(lc, end) {
			f.toServer(lc)
			return
		}
		lc.in = lc.in[end:]
		lc.tries = 0
		lc.first = lc.st.route.next.Add(1)
		lc.start = time.Now()
		lc.deadline = lc.start.Add(f.p.cfg.ResponseHeaderTimeout)
		f.send(lc, false)
	}
}

// takeRequest parses the request head lc.in[:end] and prepares it for
// its backend, if it is one the loop forwards itself.
func (f *loopFront) takeRequest(lc *loopClient, end int) bool {
	r := &lc.req
	if !parseRequestHead(lc.in[:end], r) || (!lc.https && bytes.HasPrefix(r.uri, []byte(acmeChallengePath))) {
		return false
	}
	rt := lookupHost(f.p.cur.Load().hosts, r.host)
	if rt == nil || len(rt.backends) == 0 || (!lc.https && rt.redirect) {
		return false
	}
	lc.st = reqState{route: rt, app: rt.app}
	lc.outReq = appendRequest(lc.outReq[:0], r, lc.ip, lc.https)
	return true
}

// send writes lc's request to a backend: an idle connection of the next
// one round robin, or a new one.
func (f *loopFront) send(lc *loopClient, fresh bool) {
	rt := lc.st.route
	addr := rt.backends[(lc.first+uint64(lc.tries))%uint64(len(rt.backends))]
	lc.st.backend = addr
	ls := lc.ls
	lc.fresh = fresh
	if l := ls.idle[addr]; len(l) > 0 && !fresh {
		be := l[len(l)-1]
		ls.idle[addr] = l[:len(l)-1]
		be.client, lc.be = lc, be
		_, _ = be.c.Write(lc.outReq)
		return
	}
	be := &loopBackend{addr: addr, client: lc}
	lc.be = be
	lc.fresh = true
	f.dial(ls, be)
}

// dial connects be to its backend within DialTimeout, in a goroutine;
// the loop carries on with it in OnOpen, or with the failure.
func (f *loopFront) dial(ls *loopState, be *loopBackend) {
	go func() {
		c, err := net.DialTimeout("tcp", be.addr, f.p.cfg.DialTimeout)
		if err == nil {
			// On lc's own loop: a request and its backend connection are
			// only ever touched from one goroutine.
			var ch <-chan gnet.RegisteredResult
			if ch, err = ls.el.Enroll(gnet.NewContext(context.Background(), be), c); err != nil {
				c.Close()
			} else if r := <-ch; r.Err != nil {
				err = r.Err
			}
		}
		if err == nil {
			return
		}
		_ = ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if lc := be.client; lc != nil && lc.be == be {
				be.client, lc.be = nil, nil
				f.backendFailed(lc, be, &dialError{backend: be.addr, err: err}, true)
			}
			return nil
		}))
	}()
}

// backendFailed moves lc's request on after be failed it, as exchange
// does for the full server: a pooled connection the backend closed
// unanswered is tried again on a new one, then the next backend when
// nothing reached be or it dropped the request unanswered (every request
// the loop forwards is bodiless, and GET, HEAD and OPTIONS may be sent
// again), else an error page.
func (f *loopFront) backendFailed(lc *loopClient, be *loopBackend, err error, unanswered bool) {
	if lc.gone {
		return
	}
	replay := unanswered && replayableMethod(lc.req.method)
	var de *dialError
	switch {
	case replay && !lc.fresh:
		f.send(lc, true)
		return
	case (replay || errors.As(err, &de)) && lc.tries+1 < len(lc.st.route.backends):
		f.p.nextBackend(lc.st.app, be.addr, err)
		lc.tries++
		f.send(lc, false)
		return
	}
	if errors.As(err, &de) || replay {
		err = noBackend(lc.st.app, err)
	}
	code, msg := errorStatus(err, lc.st.app)
	if code == http.StatusBadGateway && !errors.Is(err, errNoBackend) {
		f.p.log.Warn("forwarding failed", "app", lc.st.app, "err", err)
	}
	f.errorPage(lc, code, msg)
}

// answer passes be's response on to its client once it is whole; an
// answer that is not small, or of no known length, goes to a goroutine.
func (f *loopFront) answer(be *loopBackend) {
	lc := be.client
	if lc == nil {
		// Bytes from an idle connection answer nothing.
		closeNow(be.c)
		return
	}
	r := &be.resp
	for be.hlen == 0 {
		end := bytes.Index(be.in, []byte("\r\n\r\n"))
		if end < 0 {
			if len(be.in) > f.p.cfg.MaxHeaderBytes {
				f.dropBackend(lc, be, errors.New("response head too large"))
			}
			return
		}
		end += 4
		if end > f.p.cfg.MaxHeaderBytes {
			f.dropBackend(lc, be, errors.New("response head too large"))
			return
		}
		if err := parseResponseHead(be.in[:end], r); err != nil {
			f.dropBackend(lc, be, err)
			return
		}
		switch {
		case r.code >= 200:
			be.hlen = end
			continue
		case r.code == fasthttp.StatusSwitchingProtocols:
			f.dropBackend(lc, be, errors.New("backend switched protocols unasked"))
			return
		case r.code == fasthttp.StatusEarlyHints:
			f.write(lc, appendResponse(lc.ls.out[:0], r))
		}
		be.in = be.in[end:]
	}
	body := 0
	if string(lc.req.method) != "HEAD" && r.code != http.StatusNoContent && r.code != http.StatusNotModified {
		if r.length < 0 || r.length > smallBody {
			f.streamAnswer(lc, be)
			return
		}
		body = r.length
	}
	if len(be.in) < be.hlen+body {
		return
	}
	ls := lc.ls
	ls.out = appendResponse(ls.out[:0], r)
	ls.out = append(ls.out, be.in[be.hlen:be.hlen+body]...)
	extra := len(be.in) > be.hlen+body
	be.in, be.hlen = be.in[:0], 0
	be.client, lc.be = nil, nil
	if r.close || extra {
		closeNow(be.c)
	} else {
		f.park(ls, be)
	}
	f.write(lc, ls.out)
	f.done(lc, r.code, int64(body))
}

// done ends lc's request after its answer went out: the connection waits
// for the next one, or closes when the client asked.
func (f *loopFront) done(lc *loopClient, status int, n int64) {
	f.logged(lc, status, n)
	if lc.req.close || f.draining.Load() {
		lc.gone = true
		delete(lc.ls.conns, lc)
		closeNow(lc.c)
		return
	}
	lc.deadline = time.Now().Add(f.p.cfg.IdleTimeout)
	f.process(lc)
}

// park keeps be for the next request to its backend.
func (f *loopFront) park(ls *loopState, be *loopBackend) {
	l := ls.idle[be.addr]
	if len(l) >= f.p.cfg.MaxIdleConnsPerBackend {
		closeNow(be.c)
		return
	}
	be.idleAt = time.Now()
	ls.idle[be.addr] = append(l, be)
}

// dropBackend answers lc with a 502 for a backend that broke the protocol.
func (f *loopFront) dropBackend(lc *loopClient, be *loopBackend, err error) {
	be.client, lc.be = nil, nil
	closeNow(be.c)
	f.p.log.Warn("forwarding failed", "app", lc.st.app, "err", err)
	f.errorPage(lc, http.StatusBadGateway, fmt.Sprintf("%s answered with an error", lc.st.app))
}

// errorPage answers lc's request in flight with a short page.
func (f *loopFront) errorPage(lc *loopClient, code int, msg string) {
	n := f.writePage(lc, code, msg, false)
	f.done(lc, code, int64(n))
}

// writePage writes a short plain-text page, as pageH1 does, and returns
// the length of its body.
func (f *loopFront) writePage(lc *loopClient, code int, msg string, closing bool) int {
	ls := lc.ls
	body := fmt.Sprintf("%d %s: %s\n", code, http.StatusText(code), msg)
	ls.out = fmt.Appendf(ls.out[:0], "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nContent-Length: %d\r\n",
		code, http.StatusText(code), len(body))
	if closing {
		ls.out = append(ls.out, "Connection: close\r\n"...)
	}
	ls.out = append(append(ls.out, "\r\n"...), body...)
	f.write(lc, ls.out)
	return len(body)
}

// logged writes lc's access log line, when access logging is on.
func (f *loopFront) logged(lc *loopClient, status int, n int64) {
	p := f.p
	if !p.access.Enabled(p.ctx, slog.LevelInfo) {
		return
	}
	r := &lc.req
	p.logAccess(&accessEntry{
		start: lc.start, host: normHost(string(r.host)), method: string(r.method),
		path: string(r.uri), proto: "HTTP/1.1", status: status, bytes: n,
		app: lc.st.app, backend: lc.st.backend, client: lc.ip,
	})
}

// expire ends the waits past their deadline in ls.
func (f *loopFront) expire(ls *loopState, now time.Time) {
	for lc := range ls.conns {
		if lc.gone || now.Before(lc.deadline) {
			continue
		}
		switch {
		case lc.be != nil:
			be := lc.be
			be.client, lc.be = nil, nil
			if be.c != nil {
				closeNow(be.c)
			}
			f.p.log.Warn("forwarding failed", "app", lc.st.app, "err", "backend did not answer in time")
			f.errorPage(lc, http.StatusGatewayTimeout, fmt.Sprintf("%s did not answer in time", lc.st.app))
		case len(lc.in) > 0:
			// The head of a request is late: slowloris.
			f.writePage(lc, http.StatusRequestTimeout, "request headers took too long", true)
			closeNow(lc.c)
		default:
			closeNow(lc.c)
		}
	}
	for addr, l := range ls.idle {
		n := 0
		for n < len(l) && now.Sub(l[n].idleAt) >= idleTimeout {
			n++
		}
		if n == 0 {
			continue
		}
		// Out of the list before they close (OnClose looks there).
		old := slices.Clone(l[:n])
		ls.idle[addr] = append(l[:0], l[n:]...)
		for _, be := range old {
			closeNow(be.c)
		}
	}
}

// toServer hands lc, with what it sent that was not handled yet, to the
// HTTP/1.1 server, which answers it (an error, if it must) from then on.
func (f *loopFront) toServer(lc *loopClient) {
	nc, err := detach(lc.c)
	lc.gone = true
	delete(lc.ls.conns, lc)
	closeNow(lc.c)
	if err != nil {
		f.p.log.Warn("handing a connection over", "err", err)
		return
	}
	go f.handoff(lc.resume(nc, lc.in))
}

// resume returns lc's connection for a goroutine to serve, on nc (lc's
// socket, detached), with rest (what lc sent that was not handled) read
// first.
func (lc *loopClient) resume(nc net.Conn, rest []byte) net.Conn {
	if lc.tls == nil {
		return &sniffedConn{Conn: nc, r: bufio.NewReader(io.MultiReader(bytes.NewReader(rest), nc))}
	}
	lc.mc.Conn, lc.mc.inLoop = nc, false
	return &resumedTLS{Conn: lc.tls, r: io.MultiReader(bytes.NewReader(rest), lc.tls)}
}

// resumedTLS is a TLS connection with plaintext read before its own.
// (Embedding *tls.Conn keeps it one to fasthttp: IsTLS and the rest.)
type resumedTLS struct {
	*tls.Conn
	r io.Reader
}

func (c *resumedTLS) Read(b []byte) (int, error) { return c.r.Read(b) }

// memConn is the connection under a TLS connection the loop serves: the
// socket until the handshake is done, then (inLoop) bytes the loop passes
// in and takes out. Handed back to a goroutine, it is a socket again,
// with the records the loop had not decrypted read first.
type memConn struct {
	net.Conn
	inLoop bool
	in     []byte // records not yet read by the TLS connection
	out    []byte // records it wrote, for the loop to send
}

// errWouldBlock tells the TLS connection to come back with more: a
// temporary error, which it does not keep.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no more data yet" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

func (m *memConn) Read(b []byte) (int, error) {
	if len(m.in) > 0 {
		n := copy(b, m.in)
		m.in = m.in[n:]
		return n, nil
	}
	if m.inLoop {
		return 0, errWouldBlock
	}
	return m.Conn.Read(b)
}

func (m *memConn) Write(b []byte) (int, error) {
	if m.inLoop {
		m.out = append(m.out, b...)
		return len(b), nil
	}
	return m.Conn.Write(b)
}

// closeNow closes c at once, from its own loop: an asynchronous close
// could let the loop read from a socket already handed over.
func closeNow(c gnet.Conn) { _ = c.EventLoop().Close(c) }

// detach returns a net.Conn of its own on c's socket.
func detach(c gnet.Conn) (net.Conn, error) {
	fd, err := c.Dup()
	if err != nil {
		return nil, err
	}
	file := os.NewFile(uintptr(fd), "")
	defer file.Close()
	return net.FileConn(file)
}

// streamAnswer hands lc and be to a goroutine for an answer the loop does
// not hold whole: it streams the body as it comes, and then the
// connection goes on with the HTTP/1.1 server.
func (f *loopFront) streamAnswer(lc *loopClient, be *loopBackend) {
	cn, err := detach(lc.c)
	var bn net.Conn
	if err == nil {
		if bn, err = detach(be.c); err != nil {
			cn.Close()
		}
	}
	lc.gone = true
	delete(lc.ls.conns, lc)
	be.client, lc.be = nil, nil
	closeNow(lc.c)
	closeNow(be.c)
	if err != nil {
		f.p.log.Warn("handing a connection over", "err", err)
		return
	}
	client := lc.resume(cn, bytes.Clone(lc.in))
	head, pending := bytes.Clone(be.in[:be.hlen]), bytes.Clone(be.in[be.hlen:])
	go func() {
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		resp.Header.DisableNormalizing()
		if err := resp.Header.Read(bufio.NewReader(bytes.NewReader(head))); err != nil {
			client.Close()
			bn.Close()
			return
		}
		closing := cleanResponseHeader(&resp.Header)
		resp.Header.SetNoDefaultContentType(true)
		bc := &backendConn{addr: be.addr, c: bn,
			br: bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), bn), 16<<10),
			bw: bufio.NewWriterSize(bn, 4<<10)}
		body := f.p.newBackendBody(bc, &resp.Header, closing)
		resp.SetBodyStream(body, resp.Header.ContentLength())
		w := bufio.NewWriterSize(client, 4<<10)
		err := resp.Write(w)
		if err == nil {
			err = w.Flush()
		}
		f.logged(lc, resp.StatusCode(), body.n)
		if err != nil || lc.req.close {
			client.Close()
			return
		}
		f.handoff(client)
	}()
}

// gnetLogger sends gnet's own logging nowhere: the proxy logs what matters.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(string, ...any)  {}
func (gnetLogger) Errorf(string, ...any) {}
func (gnetLogger) Fatalf(string, ...any) {}
