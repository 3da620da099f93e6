package dns

import (
	"encoding/binary"

	mdns "github.com/miekg/dns"
)

// The UDP fast path answers the common query (one question, class IN, type
// A or AAAA, for a name in the zone, optionally with a plain EDNS0 OPT)
// from answers packed once per zone. Such an answer depends only on the
// name, the type, the request's RD, CD, EDNS and DO bits and the rotation
// step; the ID is patched in. Everything else takes the general path
// (unpack, handle, pack), which also builds the packed answers, so both
// paths give the same bytes.

// fastVariants is the number of RD, CD, EDNS and DO combinations.
const fastVariants = 16

// packedAnswer is one name's answers for one type and variant, one per
// rotation step; nil answers means the answer does not fit 512 bytes and
// always takes the general path.
type packedAnswer struct {
	answers [][]byte
}

// fastQuery is what the fast path reads from a query.
type fastQuery struct {
	n       *node
	qtype   int // 0: A, 1: AAAA
	variant int
}

// parseFast reads a query the fast path can answer, or returns false.
func (c *compiled) parseFast(pkt []byte) (fastQuery, bool) {
	var q fastQuery
	if len(pkt) < 12+1+4 {
		return q, false
	}
	b2, b3 := pkt[2], pkt[3]
	// QR clear and opcode QUERY; one question, nothing else but one OPT.
	if b2&0xF8 != 0 || binary.BigEndian.Uint16(pkt[4:]) != 1 ||
		binary.BigEndian.Uint32(pkt[6:]) != 0 || binary.BigEndian.Uint16(pkt[10:]) > 1 {
		return q, false
	}
	// The name: plain labels, lower case (an answer echoes the question's
	// case, so only one spelling is packed per name).
	off := 12
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 || off+1+l > len(pkt) {
			return q, false
		}
		for _, ch := range pkt[off+1 : off+1+l] {
			if ch >= 'A' && ch <= 'Z' || ch == '.' || ch == '\\' || ch < '!' || ch > '~' {
				return q, false // upper case, or bytes text names escape
			}
		}
		off += 1 + l
	}
	if off-12 > 255 || off+4 > len(pkt) {
		return q, false
	}
	n := c.wire[string(pkt[12:off])]
	if n == nil {
		return q, false
	}
	switch binary.BigEndian.Uint16(pkt[off:]) {
	case mdns.TypeA:
		q.qtype = 0
	case mdns.TypeAAAA:
		q.qtype = 1
	default:
		return q, false
	}
	if binary.BigEndian.Uint16(pkt[off+2:]) != mdns.ClassINET {
		return q, false
	}
	off += 4
	q.variant = int(b2&1) | int(b3&0x10)>>3 // RD, CD
	if pkt[11] == 1 {
		// OPT: root owner, type OPT, version 0, then its options, to the end.
		if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != mdns.TypeOPT ||
			pkt[off+6] != 0 {
			return q, false
		}
		do := pkt[off+7] & 0x80
		rdlen := int(binary.BigEndian.Uint16(pkt[off+9:]))
		off += 11 + rdlen
		q.variant |= 4 | int(do)>>4
	}
	if off != len(pkt) {
		return q, false
	}
	q.n = n
	return q, true
}

// fastAnswer appends the answer to pkt to dst, or returns nil when pkt
// needs the general path.
func (s *Server) fastAnswer(pkt, dst []byte) []byte {
	c := s.zone.Load()
	if c == nil {
		return nil
	}
	q, ok := c.parseFast(pkt)
	if !ok {
		return nil
	}
	slot := &q.n.packed[q.qtype][q.variant]
	pa := slot.Load()
	if pa == nil {
		pa = s.pack(c, q)
		slot.Store(pa)
	}
	if len(pa.answers) == 0 {
		return nil
	}
	ans := pa.answers[0]
	if k := len(pa.answers); k > 1 {
		ans = pa.answers[s.rotation.Add(1)%uint64(k)]
	}
	dst = append(dst, ans...)
	dst[0], dst[1] = pkt[0], pkt[1]
	return dst
}

// pack builds a packedAnswer through the general path, one answer per
// rotation step of the name's proxies.
func (s *Server) pack(c *compiled, q fastQuery) *packedAnswer {
	qtype, proxies := mdns.TypeA, len(q.n.proxyA)
	if q.qtype == 1 {
		qtype, proxies = mdns.TypeAAAA, len(q.n.proxyAAAA)
	}
	req := new(mdns.Msg)
	req.SetQuestion(q.n.name, qtype)
	req.RecursionDesired = q.variant&1 != 0
	req.CheckingDisabled = q.variant&2 != 0
	if q.variant&4 != 0 {
		// The smallest size: an answer that fits is the same for any size.
		req.SetEdns0(mdns.MinMsgSize, q.variant&8 != 0)
	}
	pa := &packedAnswer{}
	for k := range max(proxies, 1) {
		resp := new(mdns.Msg)
		s.authoritative(c, q.n, q.n.name, qtype, req, resp, func(uint64) uint64 { return uint64(k) })
		s.finish(req, resp, true)
		b, err := resp.Pack()
		if err != nil || resp.Truncated || len(b) > mdns.MinMsgSize {
			return &packedAnswer{}
		}
		pa.answers = append(pa.answers, b)
	}
	return pa
}
