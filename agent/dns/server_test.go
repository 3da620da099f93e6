package dns

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	mdns "github.com/miekg/dns"

	"gasper/proto"
)

func TestAppAnswersListAllProxiesRotated(t *testing.T) {
	s, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	firsts := map[string]int{}
	for range 30 {
		r := query(t, "udp", addr, "web.apps.example.com.", mdns.TypeA, 0)
		got := addrs(r)
		if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}, slices.Sorted(slices.Values(got))); diff != "" {
			t.Fatalf("answer addresses (-want +got):\n%s", diff)
		}
		if !r.Authoritative || r.Answer[0].Header().Ttl != 5 {
			t.Fatalf("answer not authoritative with TTL 5: %v", r)
		}
		firsts[got[0]]++
	}
	// Each answer rotates by one, so 30 answers put each proxy first ten
	// times.
	if diff := cmp.Diff(map[string]int{"10.0.0.1": 10, "10.0.0.2": 10, "10.0.0.3": 10}, firsts); diff != "" {
		t.Errorf("first address over 30 answers (-want +got):\n%s", diff)
	}
}

func TestZoneUpdateIsVisibleAtOnce(t *testing.T) {
	s, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	z := testZone()
	if err := s.SetZone(z); err != nil {
		t.Fatal(err)
	}
	if got := len(addrs(query(t, "udp", addr, "api.apps.example.com.", mdns.TypeA, 0))); got != 3 {
		t.Fatalf("before update: %d addresses, want 3", got)
	}
	z.Version++
	z.Proxies = []string{"10.0.0.1", "10.0.0.3"}
	z.Apps = append(z.Apps, "new")
	if err := s.SetZone(z); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		got := slices.Sorted(slices.Values(addrs(query(t, "udp", addr, "api.apps.example.com.", mdns.TypeA, 0))))
		if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.3"}, got); diff != "" {
			t.Fatalf("after removing a proxy (-want +got):\n%s", diff)
		}
	}
	if r := query(t, "udp", addr, "new.apps.example.com.", mdns.TypeA, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 2 {
		t.Errorf("new app after update: %v", r)
	}
}

func TestAuthoritativeAnswers(t *testing.T) {
	u := startUpstream(t, "127.0.0.2")
	s, addr := startServer(t, Config{Upstreams: []string{u.addr}})
	z := testZone()
	z.Proxies = []string{"10.0.0.1", "2001:db8::1"}
	if err := s.SetZone(z); err != nil {
		t.Fatal(err)
	}
	soa := "apps.example.com. 5 IN SOA ns1.apps.example.com. hostmaster.apps.example.com. 7 3600 600 604800 5"
	tests := []struct {
		name  string
		netw  string
		qname string
		qtype uint16
		want  summary
	}{
		{"app A", "udp", "web.apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"web.apps.example.com. 5 IN A 10.0.0.1"}}},
		{"app AAAA", "udp", "web.apps.example.com.", mdns.TypeAAAA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"web.apps.example.com. 5 IN AAAA 2001:db8::1"}}},
		{"app other type is NODATA", "udp", "web.apps.example.com.", mdns.TypeMX, summary{Rcode: "NOERROR", AA: true,
			Ns: []string{soa}}},
		{"unknown name is NXDOMAIN with SOA", "udp", "nope.apps.example.com.", mdns.TypeA, summary{Rcode: "NXDOMAIN", AA: true,
			Ns: []string{soa}}},
		{"below an app is NXDOMAIN", "udp", "x.web.apps.example.com.", mdns.TypeA, summary{Rcode: "NXDOMAIN", AA: true,
			Ns: []string{soa}}},
		{"case does not matter", "udp", "WeB.APPS.Example.COM.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"web.apps.example.com. 5 IN A 10.0.0.1"}}},
		{"SOA", "udp", "apps.example.com.", mdns.TypeSOA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{soa}}},
		{"NS with glue", "udp", "apps.example.com.", mdns.TypeNS, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"apps.example.com. 5 IN NS ns1.apps.example.com.", "apps.example.com. 5 IN NS ns2.apps.example.com."},
			Extra:  []string{"ns1.apps.example.com. 5 IN A 10.9.0.1", "ns2.apps.example.com. 5 IN A 10.9.0.2"}}},
		{"nameserver name", "udp", "ns2.apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"ns2.apps.example.com. 5 IN A 10.9.0.2"}}},
		{"apex A is NODATA", "udp", "apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Ns: []string{soa}}},
		{"record", "udp", "mydb.db.apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"mydb.db.apps.example.com. 5 IN A 10.1.0.9"}}},
		{"record AAAA", "udp", "master.apps.example.com.", mdns.TypeAAAA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"master.apps.example.com. 5 IN AAAA fd00::1"}}},
		{"empty non-terminal is NODATA", "udp", "db.apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Ns: []string{soa}}},
		{"custom domain", "udp", "www.customer.org.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"www.customer.org. 5 IN A 10.0.0.1"}}},
		{"custom domain, other type", "udp", "www.customer.org.", mdns.TypeTXT, summary{Rcode: "NOERROR", AA: true}},
		{"over TCP", "tcp", "api.apps.example.com.", mdns.TypeA, summary{Rcode: "NOERROR", AA: true,
			Answer: []string{"api.apps.example.com. 5 IN A 10.0.0.1"}}},
		{"NXDOMAIN over TCP", "tcp", "gone.apps.example.com.", mdns.TypeAAAA, summary{Rcode: "NXDOMAIN", AA: true,
			Ns: []string{soa}}},
		{"transfer refused", "tcp", "apps.example.com.", mdns.TypeAXFR, summary{Rcode: "REFUSED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := query(t, tt.netw, addr, tt.qname, tt.qtype, 0)
			if diff := cmp.Diff(tt.want, summarize(r)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if !r.RecursionAvailable {
				t.Errorf("RA not set")
			}
			if r.Question[0].Name != tt.qname {
				t.Errorf("question echoed as %q, want %q", r.Question[0].Name, tt.qname)
			}
		})
	}
	if n := u.queries.Load(); n != 0 {
		t.Errorf("upstream asked %d times about the zone, want never", n)
	}
}

func TestTruncation(t *testing.T) {
	s, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	z := testZone()
	z.Proxies = nil
	for i := range 100 {
		z.Proxies = append(z.Proxies, "10.3.0."+strconv.Itoa(i+1))
	}
	if err := s.SetZone(z); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		netw    string
		edns    uint16
		wantTC  bool
		wantLen int
	}{
		{"udp without EDNS", "udp", 0, true, -1},
		{"udp with EDNS 4096", "udp", 4096, false, 100},
		{"tcp", "tcp", 0, false, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := query(t, tt.netw, addr, "web.apps.example.com.", mdns.TypeA, tt.edns)
			if r.Truncated != tt.wantTC {
				t.Errorf("TC = %v, want %v", r.Truncated, tt.wantTC)
			}
			if tt.wantLen >= 0 && len(r.Answer) != tt.wantLen {
				t.Errorf("%d answers, want %d", len(r.Answer), tt.wantLen)
			}
			if tt.edns > 0 {
				opt := r.IsEdns0()
				if opt == nil || opt.UDPSize() != ednsSize {
					t.Errorf("EDNS answer has OPT %v, want UDP size %d", opt, ednsSize)
				}
			} else if r.IsEdns0() != nil {
				t.Errorf("OPT in an answer to a query without EDNS")
			}
		})
	}
}

func TestEDNSVersionAndMalformedQueries(t *testing.T) {
	s, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	m := new(mdns.Msg)
	m.SetQuestion("web.apps.example.com.", mdns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	r, err := mdns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", mdns.RcodeToString[r.Rcode])
	}

	m = new(mdns.Msg)
	m.SetQuestion("web.apps.example.com.", mdns.TypeA)
	m.Question[0].Qclass = mdns.ClassCHAOS
	if r, err = mdns.Exchange(m, addr); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeRefused {
		t.Errorf("CHAOS class: rcode %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
}

func TestForwardingCachesAndHonoursTTL(t *testing.T) {
	u := startUpstream(t, "127.0.0.2")
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	s, addr := startServer(t, Config{Upstreams: []string{u.addr}}, func(s *Server) { s.fwd.now = clock.Now })
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}

	r := query(t, "udp", addr, "example.org.", mdns.TypeA, 0)
	want := summary{Rcode: "NOERROR", Answer: []string{"example.org. 60 IN A 192.0.2.1"}}
	if diff := cmp.Diff(want, summarize(r)); diff != "" {
		t.Fatalf("forwarded answer (-want +got):\n%s", diff)
	}
	if n := u.queries.Load(); n != 1 {
		t.Fatalf("upstream asked %d times, want 1", n)
	}

	clock.Advance(20 * time.Second)
	r = query(t, "udp", addr, "EXAMPLE.org.", mdns.TypeA, 0)
	want.Answer = []string{"example.org. 40 IN A 192.0.2.1"}
	if diff := cmp.Diff(want, summarize(r)); diff != "" {
		t.Errorf("cached answer, 20s later (-want +got):\n%s", diff)
	}
	if n := u.queries.Load(); n != 1 {
		t.Errorf("upstream asked %d times after a cached query, want 1", n)
	}

	clock.Advance(41 * time.Second)
	r = query(t, "udp", addr, "example.org.", mdns.TypeA, 0)
	want.Answer = []string{"example.org. 60 IN A 192.0.2.1"}
	if diff := cmp.Diff(want, summarize(r)); diff != "" {
		t.Errorf("answer after expiry (-want +got):\n%s", diff)
	}
	if n := u.queries.Load(); n != 2 {
		t.Errorf("upstream asked %d times after the TTL ran out, want 2", n)
	}

	// Negative answers are cached for the SOA minimum (30s), not its TTL.
	for _, step := range []struct {
		advance time.Duration
		want    int64
	}{{0, 3}, {29 * time.Second, 3}, {2 * time.Second, 4}} {
		clock.Advance(step.advance)
		r = query(t, "udp", addr, "missing.example.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeNameError {
			t.Fatalf("missing name: rcode %s", mdns.RcodeToString[r.Rcode])
		}
		if n := u.queries.Load(); n != step.want {
			t.Errorf("after %v more: upstream asked %d times, want %d", step.advance, n, step.want)
		}
	}
}

func TestForwardingRetriesOverTCPAndNextUpstream(t *testing.T) {
	u := startUpstream(t, "127.0.0.2")
	// The first upstream is dead: the second must answer.
	_, addr := startServer(t, Config{Upstreams: []string{deadAddr(t), u.addr}, CacheSize: -1})
	r := query(t, "tcp", addr, "big.example.", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 100 {
		t.Fatalf("big answer over TCP: rcode %s, %d records, want 100", mdns.RcodeToString[r.Rcode], len(r.Answer))
	}
	// Over UDP without EDNS the client gets what fits, flagged TC.
	r = query(t, "udp", addr, "big.example.", mdns.TypeA, 0)
	if !r.Truncated {
		t.Errorf("big answer over UDP without TC")
	}
}

func TestServfailWhenUpstreamsDead(t *testing.T) {
	_, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	r := query(t, "udp", addr, "example.org.", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}

func TestSetZonePersistsAndLoads(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Addr: "127.0.0.1:0", StateDir: dir, Upstreams: []string{"127.0.0.9"}})
	if err != nil {
		t.Fatal(err)
	}
	z := testZone()
	if err := s.SetZone(z); err != nil {
		t.Fatal(err)
	}
	older := z
	older.Version--
	if err := s.SetZone(older); !errors.Is(err, ErrStaleZone) {
		t.Errorf("SetZone(older) = %v, want ErrStaleZone", err)
	}
	if err := s.SetZone(z); err != nil {
		t.Errorf("SetZone(same version again) = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "zone.json" {
		t.Errorf("state dir holds %v, want only zone.json", entries)
	}

	s2, addr := startServer(t, Config{StateDir: dir, Upstreams: []string{deadAddr(t)}})
	if diff := cmp.Diff(z, s2.Zone()); diff != "" {
		t.Errorf("loaded zone (-want +got):\n%s", diff)
	}
	if r := query(t, "udp", addr, "web.apps.example.com.", mdns.TypeA, 0); len(r.Answer) != 3 {
		t.Errorf("loaded zone answers %v", r)
	}

	// Zone returns a copy: changing it changes nothing served.
	got := s2.Zone()
	got.Apps[0] = "changed"
	if s2.Zone().Apps[0] != "web" {
		t.Errorf("Zone() shares its slices with the server")
	}
}

func TestSetZoneRejectsInvalid(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", StateDir: t.TempDir(), Upstreams: []string{"127.0.0.9"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*proto.Zone)
	}{
		{"no domain", func(z *proto.Zone) { z.Domain = "" }},
		{"bad proxy", func(z *proto.Zone) { z.Proxies = []string{"10.0.0.300"} }},
		{"bad nameserver", func(z *proto.Zone) { z.Nameservers = []string{"ns.example.com"} }},
		{"bad record address", func(z *proto.Zone) { z.Records = map[string][]string{"x": {"nope"}} }},
		{"absolute record name", func(z *proto.Zone) { z.Records = map[string][]string{"x.other.org.": {"10.0.0.1"}} }},
		{"empty app", func(z *proto.Zone) { z.Apps = []string{""} }},
		{"app label too long", func(z *proto.Zone) { z.Apps = []string{strings.Repeat("a", 64)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := testZone()
			tt.change(&z)
			if err := s.SetZone(z); err == nil {
				t.Errorf("SetZone accepted an invalid zone")
			}
			if _, err := os.Stat(filepath.Join(s.cfg.StateDir, "zone.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("invalid zone was written: %v", err)
			}
		})
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "nameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nnameserver 2001:db8::53\nnameserver 10.0.0.5\noptions edns0\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	old := resolvConf
	resolvConf = path
	t.Cleanup(func() { resolvConf = old })

	s, err := New(Config{Addr: "10.0.0.5:53"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}
	if diff := cmp.Diff(want, s.fwd.upstreams); diff != "" {
		t.Errorf("upstreams (-want +got):\n%s", diff)
	}

	// Explicit upstreams keep loopback (a test resolver, a local cache)
	// but never the server itself.
	s, err = New(Config{Addr: "127.0.0.3:53", Upstreams: []string{"127.0.0.3", "127.0.0.4:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"127.0.0.4:5353"}, s.fwd.upstreams); diff != "" {
		t.Errorf("explicit upstreams (-want +got):\n%s", diff)
	}
}

func TestRunFailsWhenAddressTaken(t *testing.T) {
	_, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	s, err := New(Config{Addr: addr, Upstreams: []string{deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Run on a taken address returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Error("Run on a taken address did not return")
	}
}

func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils)")
	}
	u := startUpstream(t, "127.0.0.2")
	s, addr := startServer(t, Config{Addr: "127.0.0.3:0", Upstreams: []string{u.addr}})
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	digShort := func(args ...string) []string {
		t.Helper()
		args = append([]string{"@" + host, "-p", port, "+short", "+time=3", "+tries=1"}, args...)
		out, err := exec.CommandContext(t.Context(), dig, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"web.apps.example.com", "A"}, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{[]string{"+tcp", "www.customer.org", "A"}, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}},
		{[]string{"apps.example.com", "NS"}, []string{"ns1.apps.example.com.", "ns2.apps.example.com."}},
		{[]string{"example.org", "A"}, []string{"192.0.2.1"}},
	}
	for _, tt := range tests {
		got := digShort(tt.args...)
		slices.Sort(got)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("dig %v (-want +got):\n%s", tt.args, diff)
		}
	}
	out, err := exec.CommandContext(t.Context(), dig, "@"+host, "-p", port, "nope.apps.example.com", "A").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"status: NXDOMAIN", "flags: qr aa rd ra", "IN\tSOA\tns1.apps.example.com. hostmaster.apps.example.com. 7"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dig NXDOMAIN output lacks %q:\n%s", want, out)
		}
	}
}
