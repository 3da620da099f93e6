package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether the peer of c has closed or reset its side of
// the TCP connection, from the kernel's state of the socket: nothing is
// read, so it works while unread bytes wait. False when it cannot tell.
func peerClosed(c net.Conn) bool {
	tc := tcpConn(c)
	if tc == nil {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		closed = err == nil && (info.State == unix.BPF_TCP_CLOSE_WAIT || info.State == unix.BPF_TCP_CLOSE)
	})
	return closed
}

// tcpConn finds the TCP connection under c (TLS, or a connection this
// package wrapped), or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
}
