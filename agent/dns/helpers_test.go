package dns

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"gasper/proto"
)

// testZone is the zone most tests serve.
func testZone() proto.Zone {
	return proto.Zone{
		Version:       7,
		Domain:        "apps.example.com",
		TTL:           5,
		Proxies:       []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		Apps:          []string{"web", "api"},
		CustomDomains: []string{"www.customer.org"},
		Records: map[string][]string{
			"mydb.db": {"10.1.0.9"},
			"master":  {"10.2.0.1", "fd00::1"},
		},
		Nameservers: []string{"10.9.0.1", "10.9.0.2"},
	}
}

// startServer runs a Server for the test's lifetime and returns it with
// the address it serves. setup runs before Run, for changes that the race
// detector would otherwise flag (it cannot see that a query sent over a
// socket happens after them).
func startServer(t *testing.T, cfg Config, setup ...func(*Server)) (*Server, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range setup {
		f(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == "" {
		select {
		case err := <-done:
			t.Fatalf("Run: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not bind within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Bound sockets queue what arrives before the serve loops start, so
	// the server is usable from here on.
	return s, s.Addr()
}

// query asks addr over net ("udp" or "tcp") and fails the test on a
// transport error.
func query(t *testing.T, netw, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: netw, Timeout: 3 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, mdns.TypeToString[qtype], netw, err)
	}
	if r == nil {
		t.Fatalf("query %s: no answer", name)
	}
	return r
}

// summary is what a user reads in an answer, in a form go-cmp can compare:
// records as dig prints them, sorted since the order of addresses rotates.
type summary struct {
	Rcode  string
	AA, TC bool
	Answer []string
	Ns     []string
	Extra  []string
}

func summarize(m *mdns.Msg) summary {
	strs := func(rrs []mdns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
		sort.Strings(out)
		return out
	}
	return summary{
		Rcode:  mdns.RcodeToString[m.Rcode],
		AA:     m.Authoritative,
		TC:     m.Truncated,
		Answer: strs(m.Answer),
		Ns:     strs(m.Ns),
		Extra:  strs(m.Extra),
	}
}

// addrs lists the A/AAAA addresses of an answer in order.
func addrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out = append(out, v.A.String())
		case *mdns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}

// upstream is a real DNS server standing in for a node's resolver: it
// answers from a fixed table and counts what it is asked.
type upstream struct {
	addr    string
	queries atomic.Int64
	mu      sync.Mutex
	seen    []string
}

// upstreamRecords are what the test upstream answers; names it lacks get
// NXDOMAIN with a SOA whose minimum is 30s.
var upstreamRecords = map[string]string{
	"example.org.":   "example.org. 60 IN A 192.0.2.1",
	"short.example.": "short.example. 2 IN A 192.0.2.2",
}

func startUpstream(t testing.TB, ip string) *upstream {
	t.Helper()
	u := &upstream{}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		u.queries.Add(1)
		q := req.Question[0]
		u.mu.Lock()
		u.seen = append(u.seen, q.Name)
		u.mu.Unlock()
		resp := new(mdns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		name := strings.ToLower(q.Name)
		switch {
		case name == "big.example.":
			// 100 records: too big for UDP, so a forwarder must retry
			// over TCP.
			for i := range 100 {
				rr, _ := mdns.NewRR("big.example. 60 IN A 192.0.2." + strconv.Itoa(i+1))
				resp.Answer = append(resp.Answer, rr)
			}
		case upstreamRecords[name] != "" && q.Qtype == mdns.TypeA:
			rr, _ := mdns.NewRR(upstreamRecords[name])
			resp.Answer = []mdns.RR{rr}
		default:
			resp.Rcode = mdns.RcodeNameError
			soa, _ := mdns.NewRR(". 300 IN SOA a.root. nstld. 1 1800 900 604800 30")
			resp.Ns = []mdns.RR{soa}
		}
		if opt := req.IsEdns0(); opt != nil {
			resp.SetEdns0(opt.UDPSize(), false)
		}
		if w.LocalAddr().Network() == "udp" {
			size := mdns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			resp.Truncate(size)
		}
		_ = w.WriteMsg(resp)
	})
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	u.addr = pc.LocalAddr().String()
	ln, err := net.Listen("tcp", u.addr)
	if err != nil {
		t.Fatalf("upstream tcp: %v", err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// deadAddr is a loopback UDP address with nothing listening.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// fakeClock is a settable clock for the forwarder's cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
