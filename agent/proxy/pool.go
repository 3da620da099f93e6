package proxy

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// idleTimeout closes pooled backend connections unused this long.
const idleTimeout = 90 * time.Second

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
func (p *connPool) dial(addr string) (*backendConn, error) {
	c, err := p.dialer.Dial("tcp", addr)
	if err != nil {
		return nil, &dialError{backend: addr, err: err}
	}
	return &backendConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// put keeps bc for reuse, or closes it when the pool is full; the oldest
// idle connection of the backend goes when it has timed out.
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
