package dns

import (
	"bytes"
	"testing"

	mdns "github.com/miekg/dns"
)

// generalAnswer is what the general path sends for raw over UDP when the
// rotation counter is at rot.
func generalAnswer(t testing.TB, s *Server, raw []byte, rot uint64) []byte {
	t.Helper()
	req := new(mdns.Msg)
	if err := req.Unpack(raw); err != nil {
		t.Fatalf("fast path answered a query that does not unpack: %v", err)
	}
	s.rotation.Store(rot)
	resp := s.handle(t.Context(), req, true)
	if resp == nil {
		t.Fatalf("fast path answered a query the general path ignores: %v", req)
	}
	b, err := resp.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fastAt is fastAnswer with the rotation counter at rot.
func fastAt(s *Server, raw []byte, rot uint64) []byte {
	s.rotation.Store(rot)
	return s.fastAnswer(raw, nil)
}

func TestFastPathAnswersLikeTheGeneralPath(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	names := []string{"web.apps.example.com.", "master.apps.example.com.", "www.customer.org.",
		"apps.example.com.", "ns2.apps.example.com.", "mydb.db.apps.example.com.", "db.apps.example.com."}
	answered := 0
	for _, name := range names {
		for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			for variant := range 16 {
				for _, opt := range []mdns.EDNS0{nil, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"}} {
					if opt != nil && variant&4 == 0 {
						continue
					}
					m := new(mdns.Msg)
					m.SetQuestion(name, qtype)
					m.RecursionDesired = variant&1 != 0
					m.CheckingDisabled = variant&2 != 0
					if variant&4 != 0 {
						m.SetEdns0(4096, variant&8 != 0)
						if opt != nil {
							m.IsEdns0().Option = append(m.IsEdns0().Option, opt)
						}
					}
					raw, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					for rot := range uint64(4) {
						got := fastAt(s, raw, rot)
						if got == nil {
							t.Fatalf("%s %s variant %d: fast path declined", name, mdns.TypeToString[qtype], variant)
						}
						if want := generalAnswer(t, s, raw, rot); !bytes.Equal(got, want) {
							t.Fatalf("%s %s variant %d rotation %d: fast answer differs\nfast:    %x\ngeneral: %x",
								name, mdns.TypeToString[qtype], variant, rot, got, want)
						}
						answered++
					}
				}
			}
		}
	}
	t.Logf("%d answers compared", answered)
}

func TestFastPathDeclinesWhatItDoesNotKnow(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetZone(testZone()); err != nil {
		t.Fatal(err)
	}
	q := func(name string, qtype uint16, edit func(*mdns.Msg)) []byte {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		if edit != nil {
			edit(m)
		}
		raw, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	ok := q("web.apps.example.com.", mdns.TypeA, nil)
	if s.fastAnswer(ok, nil) == nil {
		t.Fatal("fast path declined a plain A query")
	}
	for what, raw := range map[string][]byte{
		"upper case":       q("WEB.apps.example.com.", mdns.TypeA, nil),
		"unknown name":     q("nope.apps.example.com.", mdns.TypeA, nil),
		"outside the zone": q("example.org.", mdns.TypeA, nil),
		"type MX":          q("web.apps.example.com.", mdns.TypeMX, nil),
		"type ANY":         q("web.apps.example.com.", mdns.TypeANY, nil),
		"class CH":         q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) { m.Question[0].Qclass = mdns.ClassCHAOS }),
		"a response":       q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) { m.Response = true }),
		"opcode NOTIFY":    q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) { m.Opcode = mdns.OpcodeNotify }),
		"EDNS version 1":   q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }),
		"two questions":    q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		"an answer section": q("web.apps.example.com.", mdns.TypeA, func(m *mdns.Msg) {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeA, Class: mdns.ClassINET}, A: []byte{1, 2, 3, 4}}}
		}),
		"trailing bytes": append(append([]byte(nil), ok...), 0),
		"cut short":      ok[:len(ok)-2],
		"header only":    ok[:12],
	} {
		if got := s.fastAnswer(raw, nil); got != nil {
			t.Errorf("%s: fast path answered %x", what, got)
		}
	}
}

// FuzzFastPath: whatever the fast path answers, the general path answers
// the same, byte for byte.
func FuzzFastPath(f *testing.F) {
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetZone(testZone()); err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{"web.apps.example.com.", "master.apps.example.com.", "www.customer.org."} {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeAAAA)
		m.SetEdns0(1232, true)
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, uint64(1))
	}
	f.Fuzz(func(t *testing.T, raw []byte, rot uint64) {
		got := fastAt(s, raw, rot)
		if got == nil {
			return
		}
		if want := generalAnswer(t, s, raw, rot); !bytes.Equal(got, want) {
			t.Fatalf("fast answer differs\nfast:    %x\ngeneral: %x", got, want)
		}
	})
}
