package dns

import (
	"net"
	"os"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// The UDP loop answers what it will not handle as miekg/dns's server does:
// FORMERR for a malformed query, NOTIMP for an unknown opcode, nothing to
// a response.
func TestUDPRejects(t *testing.T) {
	s, addr := startServer(t, Config{Upstreams: []string{deadAddr(t)}})
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}

	m := new(mdns.Msg)
	m.SetQuestion("web.apps.example.com.", mdns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeFormatError || r.Id != m.Id {
		t.Errorf("two questions: rcode %s id %d, want FORMERR id %d", mdns.RcodeToString[r.Rcode], r.Id, m.Id)
	}

	m = new(mdns.Msg)
	m.SetUpdate("apps.example.com.")
	if r, _, err = c.Exchange(m, addr); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeNotImplemented || r.Opcode != mdns.OpcodeUpdate {
		t.Errorf("UPDATE: rcode %s opcode %d, want NOTIMP and opcode UPDATE", mdns.RcodeToString[r.Rcode], r.Opcode)
	}

	m = new(mdns.Msg)
	m.SetQuestion("web.apps.example.com.", mdns.TypeA)
	m.Response = true
	c.Timeout = 300 * time.Millisecond
	if r, _, err = c.Exchange(m, addr); err == nil {
		t.Errorf("a response was answered: %v", r)
	}
	// And the server still answers.
	if got := len(addrs(query(t, "udp", addr, "web.apps.example.com.", mdns.TypeA, 0))); got != 3 {
		t.Errorf("after the rejects: %d addresses, want 3", got)
	}
}

// TestUDPOverIPv6 serves on ::1, where the batched loop uses x/net/ipv6:
// both paths answer, from the address asked.
func TestUDPOverIPv6(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no IPv6 loopback: %v", err)
		}
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	s, addr := startServer(t, Config{Addr: "[::1]:0", Upstreams: []string{deadAddr(t)}})
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	if got := len(addrs(query(t, "udp", addr, "web.apps.example.com.", mdns.TypeA, 1232))); got != 3 {
		t.Errorf("fast path over IPv6: %d addresses, want 3", got)
	}
	if r := query(t, "udp", addr, "nope.apps.example.com.", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
		t.Errorf("general path over IPv6: rcode %s, want NXDOMAIN", mdns.RcodeToString[r.Rcode])
	}
}
