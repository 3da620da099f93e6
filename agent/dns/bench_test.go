package dns

import (
	"strconv"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkHandleApp measures the work per authoritative query, without
// the network: the lookup, the answer and packing it.
func BenchmarkHandleApp(b *testing.B) {
	s := benchServer(b)
	req := new(mdns.Msg)
	req.SetQuestion("app500.apps.example.com.", mdns.TypeA)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 512)
		for pb.Next() {
			resp := s.handle(b.Context(), req, true)
			if _, err := resp.PackBuffer(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFastApp is BenchmarkHandleApp on the UDP fast path: parse the
// query, find its packed answer, copy it and patch the ID.
func BenchmarkFastApp(b *testing.B) {
	s := benchServer(b)
	req := new(mdns.Msg)
	req.SetQuestion("app500.apps.example.com.", mdns.TypeA)
	req.SetEdns0(1232, false)
	raw, err := req.Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 512)
		for pb.Next() {
			if s.fastAnswer(raw, buf[:0]) == nil {
				b.Fatal("fast path declined")
			}
		}
	})
}

// benchServer is a server with a zone of 1000 apps, not listening.
func benchServer(b *testing.B) *Server {
	b.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:9"}})
	if err != nil {
		b.Fatal(err)
	}
	z := testZone()
	for i := range 1000 {
		z.Apps = append(z.Apps, "app"+strconv.Itoa(i))
	}
	if err := s.SetZone(z); err != nil {
		b.Fatal(err)
	}
	return s
}
