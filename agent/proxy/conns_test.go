package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gasper/proto"
)

// TestBackendConnsReused checks that keep-alive connections to a backend
// are reused under concurrency instead of being opened per request.
func TestBackendConnsReused(t *testing.T) {
	var conns atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{ln.Addr().String()}},
	}}, nil)
	const workers, each = 50, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.client(false)
			c.Transport.(*http.Transport).MaxIdleConnsPerHost = 1
			for range each {
				resp, err := c.Get("http://web." + domain + "/")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d backend connections for %d requests from %d clients: keep-alive is not reused", n, workers*each, workers)
	}
}

// TestIdleConnsClosedWhenBackendLeaves: once a table no longer lists a
// backend, the proxy's idle connections to it (the event loops' and the
// goroutine servers') are closed.
func TestIdleConnsClosedWhenBackendLeaves(t *testing.T) {
	var open atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			io.WriteString(w, "ok")
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	old := ln.Addr().String()
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{old}},
	}}, nil)
	c := r.client(false)
	if code, _ := get(t, c, "http://web."+domain+"/"); code != 200 { // the loop's
		t.Fatalf("GET: %d", code)
	}
	resp, err := c.Post("http://web."+domain+"/", "text/plain", strings.NewReader("body")) // fasthttp's
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	waitFor(t, 5*time.Second, "idle backend connections", func() bool { return open.Load() >= 2 })
	if err := r.p.SetTable(proto.RouteTable{Version: 2, Domain: domain, Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{named(t, "new")}},
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the proxy to close its idle connections to the old backend", func() bool { return open.Load() == 0 })
}
