package dns

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

const (
	// upstreamTimeout bounds one exchange with one upstream.
	upstreamTimeout = 2 * time.Second
	// maxCacheTTL bounds how long any forwarded answer is kept, whatever
	// its TTL says, so a wrong long TTL upstream heals within the hour.
	maxCacheTTL = time.Hour
)

// forwarder asks upstream resolvers and caches their answers.
type forwarder struct {
	upstreams []string
	udp, tcp  *mdns.Client
	cache     *cache // nil: no caching
	now       func() time.Time
}

func newForwarder(upstreams []string, cacheSize int) *forwarder {
	f := &forwarder{
		upstreams: upstreams,
		udp:       &mdns.Client{Net: "udp", Timeout: upstreamTimeout, UDPSize: ednsSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: upstreamTimeout},
		now:       time.Now,
	}
	if cacheSize > 0 {
		f.cache = newCache(cacheSize)
	}
	return f
}

// resolve fills resp with the answer to req's question (whose lower-case
// name is name), from the cache or the upstreams; SERVFAIL if none answers.
func (f *forwarder) resolve(ctx context.Context, req *mdns.Msg, name string, resp *mdns.Msg) {
	q := req.Question[0]
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	key := cacheKey{name: name, qtype: q.Qtype, qclass: q.Qclass, do: do, cd: req.CheckingDisabled}
	now := f.now()
	if f.cache != nil {
		if m, ok := f.cache.get(key, now); ok {
			f.reply(req, m, resp)
			return
		}
	}
	m, err := f.exchange(ctx, req, q, do)
	if err != nil {
		resp.SetRcode(req, mdns.RcodeServerFailure)
		return
	}
	stripOPT(m)
	if ttl, ok := cacheTTL(m); ok && f.cache != nil {
		f.cache.put(key, m.Copy(), now.Add(ttl), now)
	}
	f.reply(req, m, resp)
}

// reply copies an upstream answer into resp as the answer to req.
func (f *forwarder) reply(req, m, resp *mdns.Msg) {
	resp.SetReply(req)
	resp.Rcode = m.Rcode
	resp.Authoritative = false // we are not the authority for forwarded names
	resp.AuthenticatedData = m.AuthenticatedData
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Answer, resp.Ns, resp.Extra = m.Answer, m.Ns, m.Extra
}

// exchange asks each upstream in turn: UDP first, TCP when the answer was
// truncated. An answer of SERVFAIL or REFUSED moves on to the next upstream
// but is kept in case no other does better.
func (f *forwarder) exchange(ctx context.Context, req *mdns.Msg, q mdns.Question, do bool) (*mdns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errors.New("forwarding: no upstream resolvers")
	}
	out := new(mdns.Msg)
	out.Id = mdns.Id()
	out.RecursionDesired = true
	out.CheckingDisabled = req.CheckingDisabled
	out.Question = []mdns.Question{q}
	out.SetEdns0(ednsSize, do)

	var last *mdns.Msg
	var lastErr error
	for _, up := range f.upstreams {
		m, _, err := f.udp.ExchangeContext(ctx, out, up)
		if err == nil && m.Truncated {
			m, _, err = f.tcp.ExchangeContext(ctx, out, up)
		}
		if err != nil {
			lastErr = fmt.Errorf("forwarding to %s: %w", up, err)
			continue
		}
		if m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			last = m
			continue
		}
		return m, nil
	}
	if last != nil {
		return last, nil
	}
	return nil, lastErr
}

// stripOPT removes the upstream's OPT record: the client gets ours.
func stripOPT(m *mdns.Msg) {
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
}

// cacheTTL is how long m may be cached: the smallest TTL of its records, or
// for a negative answer the SOA's negative TTL (RFC 2308). Failures,
// truncated answers and negative answers without SOA are not cached.
func cacheTTL(m *mdns.Msg) (time.Duration, bool) {
	if m.Truncated || (m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError) {
		return 0, false
	}
	negative := m.Rcode == mdns.RcodeNameError || len(m.Answer) == 0
	var ttl uint32
	found := false
	consider := func(t uint32) {
		if !found || t < ttl {
			ttl, found = t, true
		}
	}
	if negative {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				consider(min(soa.Hdr.Ttl, soa.Minttl))
			}
		}
	} else {
		for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
			for _, rr := range sec {
				consider(rr.Header().Ttl)
			}
		}
	}
	if !found || ttl == 0 {
		return 0, false
	}
	return min(time.Duration(ttl)*time.Second, maxCacheTTL), true
}

// cacheKey is what makes two questions the same for the cache; the DO and
// CD bits change what upstreams return.
type cacheKey struct {
	name          string
	qtype, qclass uint16
	do, cd        bool
}

type cacheEntry struct {
	key     cacheKey
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
}

// cache is a bounded LRU of upstream answers.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns a copy of the cached answer with its TTLs lowered by the time
// it spent in the cache.
func (c *cache) get(k cacheKey, now time.Time) (*mdns.Msg, bool) {
	c.mu.Lock()
	el, ok := c.items[k]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		c.mu.Unlock()
		return nil, false
	}
	c.order.MoveToFront(el)
	c.mu.Unlock()

	// e.msg is never changed once stored, so copying it outside the lock
	// is safe.
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m, true
}

func (c *cache) put(k cacheKey, m *mdns.Msg, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = &cacheEntry{key: k, msg: m, stored: now, expires: expires}
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, msg: m, stored: now, expires: expires})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

// len is the number of answers held.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// resolvConfUpstreams reads the name servers of a resolv.conf.
func resolvConfUpstreams(path string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// normalizeUpstreams gives every upstream a port and drops self, the
// server's own address, so it never forwards to itself; from resolv.conf
// it also drops loopback entries (a node's stub resolver such as
// systemd-resolved, or this very server).
func normalizeUpstreams(ups []string, self string, dropLoopback bool) ([]string, error) {
	selfAP, _ := netip.ParseAddrPort(self)
	var out []string
	for _, u := range ups {
		ap, err := netip.ParseAddrPort(u)
		if err != nil {
			ip, err2 := netip.ParseAddr(u)
			if err2 != nil {
				return nil, fmt.Errorf("reading upstream %q: want ip or ip:port", u)
			}
			ap = netip.AddrPortFrom(ip, 53)
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap == selfAP || (dropLoopback && ap.Addr().IsLoopback()) {
			continue
		}
		out = append(out, ap.String())
	}
	return out, nil
}
