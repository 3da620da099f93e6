package dns

import (
	"context"
	"strings"

	mdns "github.com/miekg/dns"
)

// ednsSize is the UDP payload size this server advertises and asks
// upstreams for: the size that avoids IP fragmentation on common paths.
const ednsSize = 1232

// maxUDPSize caps what a client's EDNS size can make us send over UDP.
const maxUDPSize = 4096

var _ mdns.Handler = (*Server)(nil)

// ServeDNS answers one query; Run serves it over UDP and TCP.
func (s *Server) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	udp := w.LocalAddr().Network() == "udp"
	resp := s.handle(context.Background(), req, udp)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing answer", "err", err)
	}
}

// handle computes the answer to req, or nil when nothing should be sent.
// It never panics on any message miekg/dns can unpack.
func (s *Server) handle(ctx context.Context, req *mdns.Msg, udp bool) *mdns.Msg {
	if req == nil || req.Response {
		return nil // answering answers invites reflection loops
	}
	resp := new(mdns.Msg)
	if req.Opcode != mdns.OpcodeQuery {
		resp.SetRcode(req, mdns.RcodeNotImplemented)
		return s.finish(req, resp, udp)
	}
	if len(req.Question) != 1 {
		resp.SetRcode(req, mdns.RcodeFormatError)
		return s.finish(req, resp, udp)
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		resp.SetRcode(req, mdns.RcodeBadVers)
		return s.finish(req, resp, udp)
	}
	q := req.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		resp.SetRcode(req, mdns.RcodeRefused)
		return s.finish(req, resp, udp)
	}
	name := strings.ToLower(q.Name)
	if c := s.zone.Load(); c != nil {
		if n, ok := c.names[name]; ok {
			s.authoritative(c, n, name, q.Qtype, req, resp, s.rotation.Add)
			return s.finish(req, resp, udp)
		}
		if c.inZone(name) {
			// Inside the zone, a name we do not know does not exist:
			// never ask upstreams about our own zone.
			resp.SetRcode(req, mdns.RcodeNameError)
			resp.Authoritative = true
			resp.Ns = []mdns.RR{c.soa}
			return s.finish(req, resp, udp)
		}
	}
	if q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		resp.SetRcode(req, mdns.RcodeRefused)
		return s.finish(req, resp, udp)
	}
	s.fwd.resolve(ctx, req, name, resp)
	return s.finish(req, resp, udp)
}

// authoritative fills resp with what the zone has for a name it knows.
// rotate(1) gives the rotation step of each list of proxies answered.
func (s *Server) authoritative(c *compiled, n *node, name string, qtype uint16, req, resp *mdns.Msg, rotate func(uint64) uint64) {
	resp.SetReply(req)
	resp.Authoritative = true
	apex := name == c.origin
	switch qtype {
	case mdns.TypeA:
		resp.Answer = addresses(n.proxyA, n.staticA, nil, rotate)
	case mdns.TypeAAAA:
		resp.Answer = addresses(n.proxyAAAA, n.staticAAAA, nil, rotate)
	case mdns.TypeANY:
		resp.Answer = addresses(n.proxyA, n.staticA, nil, rotate)
		resp.Answer = addresses(n.proxyAAAA, n.staticAAAA, resp.Answer, rotate)
		if apex {
			resp.Answer = append(append(resp.Answer, c.soa), c.ns...)
		}
	case mdns.TypeSOA:
		if apex {
			resp.Answer = []mdns.RR{c.soa}
		}
	case mdns.TypeNS:
		if apex {
			resp.Answer = c.ns
			resp.Extra = c.glue()
		}
	case mdns.TypeAXFR, mdns.TypeIXFR:
		// The zone reaches every dns node from the master, not by transfer.
		resp.SetRcode(req, mdns.RcodeRefused)
		resp.Authoritative = false
		return
	}
	if len(resp.Answer) == 0 && n.inZone {
		resp.Ns = []mdns.RR{c.soa} // NODATA: the SOA says how long to cache it
	}
}

// addresses appends the proxies, rotated by rotate(1) places, then the
// static records.
func addresses(proxies, static, out []mdns.RR, rotate func(uint64) uint64) []mdns.RR {
	if len(proxies)+len(static) == 0 {
		return out
	}
	if out == nil {
		out = make([]mdns.RR, 0, len(proxies)+len(static))
	}
	if n := len(proxies); n > 0 {
		k := int(rotate(1) % uint64(n))
		out = append(out, proxies[k:]...)
		out = append(out, proxies[:k]...)
	}
	return append(out, static...)
}

// glue is the addresses of the zone's name servers.
func (c *compiled) glue() []mdns.RR {
	var out []mdns.RR
	for _, rr := range c.ns {
		if n := c.names[rr.(*mdns.NS).Ns]; n != nil {
			out = append(append(out, n.staticA...), n.staticAAAA...)
		}
	}
	return out
}

// finish adds EDNS0 when the client spoke it and truncates to what the
// transport carries, setting TC over UDP when records had to go.
func (s *Server) finish(req, resp *mdns.Msg, udp bool) *mdns.Msg {
	resp.RecursionAvailable = true
	size := mdns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		if sz := int(opt.UDPSize()); sz > size {
			size = min(sz, maxUDPSize)
		}
		// Pack moves an extended rcode's upper bits into this OPT.
		resp.SetEdns0(ednsSize, opt.Do())
	} else if resp.Rcode > 0xF {
		resp.Rcode = mdns.RcodeFormatError // no OPT to carry an extended code
	}
	if !udp {
		size = mdns.MaxMsgSize
	}
	resp.Truncate(size)
	return resp
}
