package sshd

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAckConn acknowledges every segment at once. OpenSSH clients leave
// Nagle's algorithm on outside interactive sessions, so during the
// handshake they hold back a packet until the previous one is
// acknowledged; with the kernel's delayed acknowledgement (40 ms) that
// cost two such waits per connection. The kernel clears TCP_QUICKACK by
// itself, hence once per read.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, raw: raw}
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	return n, err
}
