package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpBatch is the most queries read (recvmmsg) and answers sent (sendmmsg)
// in one system call: on loopback a system call per packet is most of the
// cost of a query.
const udpBatch = 64

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share.
type batchConn interface {
	ReadBatch([]ipv4.Message, int) (int, error)
	WriteBatch([]ipv4.Message, int) (int, error)
}

// serveUDP answers queries on pc until it is closed. It is used for a
// specific address only: replies then leave from the address queried
// without per-packet control messages. Queries the fast path cannot
// answer go to the general path in a goroutine of their own, as they may
// wait for an upstream.
//
// One reader: bench/dns measured 6-7 µs of CPU per query with one and
// 8-9 µs with two (on one socket they hand the socket's lock back and
// forth; on two SO_REUSEPORT sockets they gained nothing either), and one
// core answers well over 100 000 queries a second.
func (s *Server) serveUDP(pc *net.UDPConn) error {
	var bc batchConn = ipv4.NewPacketConn(pc)
	if a, ok := pc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		bc = ipv6.NewPacketConn(pc)
	}
	var slow sync.WaitGroup
	defer slow.Wait()
	return s.udpReader(pc, bc, &slow)
}

// udpReader is one read-answer-send loop; it returns nil when pc closes.
func (s *Server) udpReader(pc *net.UDPConn, bc batchConn, slow *sync.WaitGroup) error {
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxUDPSize)}
		out[i].Buffers = [][]byte{make([]byte, 0, mdns.MinMsgSize)}
	}
	for {
		n, err := bc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Debug("reading udp", "err", err)
			continue
		}
		k := 0
		for i := range in[:n] {
			pkt := in[i].Buffers[0][:in[i].N]
			if ans := s.fastAnswer(pkt, out[k].Buffers[0][:0]); ans != nil {
				out[k].Buffers[0] = ans
				out[k].Addr = in[i].Addr
				k++
				continue
			}
			addr, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			slow.Add(1)
			go func(pkt []byte) {
				defer slow.Done()
				s.serveSlowUDP(pc, pkt, addr)
			}(append([]byte(nil), pkt...))
		}
		for sent := 0; sent < k; {
			m, err := bc.WriteBatch(out[sent:k], 0)
			if err != nil {
				// A client that is gone (ICMP unreachable) fails only its
				// own answer: skip it and send the rest.
				s.log.Debug("writing udp answers", "err", err)
				m = max(m, 1)
			}
			sent += m
		}
	}
}

// serveSlowUDP answers one query the general way, the way miekg/dns's own
// server does: a query its accept rules refuse gets FORMERR (NOTIMP for
// an unknown opcode), a response or a runt is dropped.
func (s *Server) serveSlowUDP(pc *net.UDPConn, pkt []byte, addr *net.UDPAddr) {
	if len(pkt) < 12 {
		return
	}
	dh := mdns.Header{
		Id:      binary.BigEndian.Uint16(pkt[0:]),
		Bits:    binary.BigEndian.Uint16(pkt[2:]),
		Qdcount: binary.BigEndian.Uint16(pkt[4:]),
		Ancount: binary.BigEndian.Uint16(pkt[6:]),
		Nscount: binary.BigEndian.Uint16(pkt[8:]),
		Arcount: binary.BigEndian.Uint16(pkt[10:]),
	}
	action := mdns.DefaultMsgAcceptFunc(dh)
	if action == mdns.MsgIgnore {
		return
	}
	req := new(mdns.Msg)
	var resp *mdns.Msg
	if action == mdns.MsgAccept && req.Unpack(pkt) == nil {
		resp = s.handle(context.Background(), req, true)
	} else {
		// What miekg/dns answers to a query it will not handle: the header
		// (and what could be read of the question) back with FORMERR, or
		// NOTIMP for an opcode it does not serve.
		if action != mdns.MsgAccept {
			_ = req.Unpack(pkt[:12]) // the header alone
		}
		opcode := req.Opcode
		req.SetRcodeFormatError(req)
		req.Zero = false
		if action == mdns.MsgRejectNotImplemented {
			req.Opcode = opcode
			req.Rcode = mdns.RcodeNotImplemented
		}
		req.Ns, req.Answer, req.Extra = nil, nil, nil
		resp = req
	}
	if resp == nil {
		return
	}
	b, err := resp.Pack()
	if err != nil {
		s.log.Debug("packing answer", "err", err)
		return
	}
	if _, err := pc.WriteToUDP(b, addr); err != nil {
		s.log.Debug("writing answer", "err", err)
	}
}
