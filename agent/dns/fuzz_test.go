package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// fuzzServer serves testZone and forwards to a live upstream, without
// listening itself: the fuzz targets call its handler directly.
func fuzzServer(f *testing.F) *Server {
	u := startUpstream(f, "127.0.0.2").addr
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{u}, CacheSize: 100})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetZone(testZone()); err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzHandler feeds raw bytes, unpacked as a message, to the handler: it
// must answer or decline, never panic, and what it answers must pack.
func FuzzHandler(f *testing.F) {
	s := fuzzServer(f)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web.apps.example.com.", mdns.TypeA},
		{"apps.example.com.", mdns.TypeNS},
		{"nope.apps.example.com.", mdns.TypeAAAA},
		{"www.customer.org.", mdns.TypeANY},
		{"example.org.", mdns.TypeA},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.SetEdns0(4096, true)
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, udp bool) {
		req := new(mdns.Msg)
		if err := req.Unpack(raw); err != nil {
			return
		}
		resp := s.handle(t.Context(), req, udp)
		if resp == nil {
			return
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v\nrequest: %v\nanswer: %v", err, req, resp)
		}
	})
}

// FuzzNames asks arbitrary names and types, in and out of the zone.
func FuzzNames(f *testing.F) {
	s := fuzzServer(f)
	f.Add("web.apps.example.com.", uint16(mdns.TypeA))
	f.Add("A.B.apps.EXAMPLE.com", uint16(mdns.TypeMX))
	f.Add("apps.example.com.", uint16(mdns.TypeANY))
	f.Add("x.", uint16(mdns.TypeAXFR))
	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		req := new(mdns.Msg)
		req.SetQuestion(name, qtype)
		if _, err := req.Pack(); err != nil {
			return // not a name a client could send
		}
		resp := s.handle(t.Context(), req, true)
		if resp == nil {
			t.Fatal("no answer to a query")
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
	})
}
