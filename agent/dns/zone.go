package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	mdns "github.com/miekg/dns"

	"gasper/proto"
)

// DefaultTTL is the TTL of the zone's answers when the zone says 0.
const DefaultTTL = 5

// ErrStaleZone is returned by SetZone for a zone older than the one served.
var ErrStaleZone = errors.New("zone is older than the one served")

// SOA timers. Nothing transfers this zone (every dns node gets it pushed by
// the master), so they only matter to tools that read them.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 604800
)

// node is one name the server is authoritative for. A name with no
// addresses exists all the same (an empty non-terminal, or the apex): it
// answers NODATA rather than NXDOMAIN.
type node struct {
	// proxyA and proxyAAAA are served rotated, one step per answer.
	proxyA, proxyAAAA []mdns.RR
	// staticA and staticAAAA follow the proxies, in zone order.
	staticA, staticAAAA []mdns.RR
	// inZone is false for custom domains outside Domain: they have no SOA
	// to put in a negative answer.
	inZone bool
	// name is the node's lower-case, fully qualified name.
	name string
	// packed holds the answers the UDP fast path has packed for this
	// name, built on first use (see fast.go); a new zone starts empty.
	packed [2][fastVariants]atomic.Pointer[packedAnswer]
}

// compiled is a proto.Zone turned into ready-made records, read without locks
// by every query and replaced whole by SetZone.
type compiled struct {
	zone proto.Zone
	// origin is the lower-case, fully qualified Domain; dotOrigin is
	// "."+origin, to test suffixes without allocating.
	origin, dotOrigin string
	ttl               uint32
	soa               *mdns.SOA
	ns                []mdns.RR
	names             map[string]*node
	// wire indexes names by their wire form, for the UDP fast path.
	wire map[string]*node
}

// compile validates z and builds its records. It is the only place that
// judges a zone, so SetZone and New reject the same things.
func compile(z proto.Zone) (*compiled, error) {
	domain := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(z.Domain), "."))
	if domain == "" {
		return nil, errors.New("zone has no domain")
	}
	origin := mdns.Fqdn(domain)
	if _, ok := mdns.IsDomainName(origin); !ok {
		return nil, fmt.Errorf("zone domain %q is not a domain name", z.Domain)
	}
	ttl := z.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	c := &compiled{
		zone:      cloneZone(z),
		origin:    origin,
		dotOrigin: "." + origin,
		ttl:       ttl,
		names:     make(map[string]*node),
	}
	c.soa = &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns1." + origin,
		Mbox:    "hostmaster." + origin,
		Serial:  uint32(z.Version), // serial arithmetic wraps, as RFC 1982 expects
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  ttl,
	}
	c.names[origin] = &node{inZone: true, name: origin}

	proxies, err := parseAddrs(z.Proxies)
	if err != nil {
		return nil, fmt.Errorf("reading zone proxies: %w", err)
	}

	for i, a := range z.Nameservers {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("reading zone nameserver %q: %w", a, err)
		}
		name := "ns" + strconv.Itoa(i+1) + "." + origin
		c.ns = append(c.ns, &mdns.NS{
			Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: ttl},
			Ns:  name,
		})
		n := c.add(name, true)
		n.addStatic(name, ttl, ip.Unmap())
	}

	for _, app := range z.Apps {
		app = strings.ToLower(strings.TrimSpace(app))
		if app == "" || strings.HasSuffix(app, ".") {
			return nil, fmt.Errorf("zone app name %q is not a relative name", app)
		}
		name := app + "." + origin
		if _, ok := mdns.IsDomainName(name); !ok {
			return nil, fmt.Errorf("zone app name %q is not a domain name", app)
		}
		c.add(name, true).setProxies(name, ttl, proxies)
	}

	for _, d := range z.CustomDomains {
		name := mdns.Fqdn(strings.ToLower(strings.TrimSpace(d)))
		if _, ok := mdns.IsDomainName(name); !ok || name == "." {
			return nil, fmt.Errorf("zone custom domain %q is not a domain name", d)
		}
		c.add(name, c.inZone(name)).setProxies(name, ttl, proxies)
	}

	for rel, addrs := range z.Records {
		rel = strings.ToLower(strings.TrimSpace(rel))
		var name string
		switch {
		case rel == "" || rel == "@":
			name = origin
		case strings.HasSuffix(rel, "."):
			return nil, fmt.Errorf("zone record name %q must be relative to the domain", rel)
		default:
			name = rel + "." + origin
		}
		if _, ok := mdns.IsDomainName(name); !ok {
			return nil, fmt.Errorf("zone record name %q is not a domain name", rel)
		}
		ips, err := parseAddrs(addrs)
		if err != nil {
			return nil, fmt.Errorf("reading zone record %q: %w", rel, err)
		}
		n := c.add(name, true)
		for _, ip := range ips {
			n.addStatic(name, ttl, ip)
		}
	}
	c.wire = make(map[string]*node, len(c.names))
	buf := make([]byte, 256)
	for name, n := range c.names {
		if off, err := mdns.PackDomainName(name, buf, 0, nil, false); err == nil {
			c.wire[string(buf[:off])] = n
		}
	}
	return c, nil
}

// inZone tells whether the lower-case fully qualified name is Domain or
// below it.
func (c *compiled) inZone(name string) bool {
	return name == c.origin || strings.HasSuffix(name, c.dotOrigin)
}

// add returns the node for name, creating it and, inside the zone, the
// empty non-terminals between it and the apex (so "db.<domain>" answers
// NODATA when only "mydb.db" has records).
func (c *compiled) add(name string, inZone bool) *node {
	n, ok := c.names[name]
	if !ok {
		n = &node{inZone: inZone, name: name}
		c.names[name] = n
	}
	if inZone {
		for p := name; p != c.origin; {
			i := strings.IndexByte(p, '.')
			if i < 0 || i == len(p)-1 {
				break
			}
			p = p[i+1:]
			if _, ok := c.names[p]; !ok {
				c.names[p] = &node{inZone: true, name: p}
			}
		}
	}
	return n
}

func (n *node) setProxies(name string, ttl uint32, proxies []netip.Addr) {
	n.proxyA, n.proxyAAAA = n.proxyA[:0], n.proxyAAAA[:0]
	for _, ip := range proxies {
		if ip.Is4() {
			n.proxyA = append(n.proxyA, aRecord(name, ttl, ip))
		} else {
			n.proxyAAAA = append(n.proxyAAAA, aRecord(name, ttl, ip))
		}
	}
}

func (n *node) addStatic(name string, ttl uint32, ip netip.Addr) {
	if ip.Is4() {
		n.staticA = append(n.staticA, aRecord(name, ttl, ip))
	} else {
		n.staticAAAA = append(n.staticAAAA, aRecord(name, ttl, ip))
	}
}

// aRecord is an A record for an IPv4 address and an AAAA record otherwise.
func aRecord(name string, ttl uint32, ip netip.Addr) mdns.RR {
	if ip.Is4() {
		b := ip.As4()
		return &mdns.A{
			Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: ttl},
			A:   b[:],
		}
	}
	b := ip.As16()
	return &mdns.AAAA{
		Hdr:  mdns.RR_Header{Name: name, Rrtype: mdns.TypeAAAA, Class: mdns.ClassINET, Ttl: ttl},
		AAAA: b[:],
	}
}

// parseAddrs parses IP addresses, mapping IPv4-in-IPv6 forms to IPv4 so they
// answer A queries.
func parseAddrs(addrs []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("parsing address %q: %w", a, err)
		}
		out = append(out, ip.Unmap().WithZone(""))
	}
	return out, nil
}

// cloneZone copies z deeply, so callers of Zone cannot change what is served.
func cloneZone(z proto.Zone) proto.Zone {
	c := z
	c.Proxies = append([]string(nil), z.Proxies...)
	c.Apps = append([]string(nil), z.Apps...)
	c.CustomDomains = append([]string(nil), z.CustomDomains...)
	c.Nameservers = append([]string(nil), z.Nameservers...)
	if z.Records != nil {
		c.Records = make(map[string][]string, len(z.Records))
		for k, v := range z.Records {
			c.Records[k] = append([]string(nil), v...)
		}
	}
	return c
}
