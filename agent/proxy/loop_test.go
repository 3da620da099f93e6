package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"gasper/proto"
)

// TestLoopHandsOverMidConnection: on one keep-alive connection, plain and
// over TLS, small answers (the event loop's), a large one and a chunked
// one with a trailer (streamed by a goroutine, after which the full
// server serves the connection) come back whole and in order.
func TestLoopHandsOverMidConnection(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/big":
				io.WriteString(w, big)
			case "/chunked":
				w.Header().Set("Trailer", "X-Sum")
				io.WriteString(w, "part one, ")
				w.(http.Flusher).Flush()
				io.WriteString(w, "part two")
				w.Header().Set("X-Sum", "42")
			default:
				fmt.Fprintf(w, "small %s", r.URL.Path)
			}
		}))}},
	}}, nil)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			c := r.client(false)
			c.Transport.(*http.Transport).MaxConnsPerHost = 1
			var reused []bool
			for i, path := range []string{"/a", "/b", "/big", "/c", "/chunked", "/d"} {
				trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
					"GET", scheme+"://web."+domain+path, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s: reading: %v", path, err)
				}
				want := "small " + path
				switch path {
				case "/big":
					want = big
				case "/chunked":
					want = "part one, part two"
					if got := resp.Trailer.Get("X-Sum"); got != "42" {
						t.Errorf("trailer X-Sum %q, want 42", got)
					}
				}
				if resp.StatusCode != 200 || string(b) != want {
					t.Errorf("request %d %s: %d, %d bytes %.40q; want 200, %d bytes", i, path, resp.StatusCode, len(b), b, len(want))
				}
			}
			for i, re := range reused[1:] {
				if !re {
					t.Errorf("request %d opened a new connection; want all on one", i+1)
				}
			}
		})
	}
}

// TestLoopBackendTimeout: a backend that does not answer within
// ResponseHeaderTimeout gets its client a 504, and the connection goes on.
func TestLoopBackendTimeout(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "slow", Hosts: []string{"slow." + domain}, Backends: []string{backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				time.Sleep(3 * time.Second)
			}
			io.WriteString(w, "done")
		}))}},
	}}, func(c *Config) { c.ResponseHeaderTimeout = 300 * time.Millisecond })
	c := r.client(false)
	start := time.Now()
	code, body := get(t, c, "http://slow."+domain+"/slow")
	if took := time.Since(start); code != http.StatusGatewayTimeout || took > 2*time.Second {
		t.Errorf("slow backend: %d %q after %v; want 504 within 2s", code, body, took)
	}
	if code, body := get(t, c, "http://slow."+domain+"/fast"); code != 200 || body != "done" {
		t.Errorf("next request: %d %q", code, body)
	}
}

// TestLoopDrainsOnShutdown: a request in flight when the proxy is told to
// stop is answered; new connections are refused.
func TestLoopDrainsOnShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "finished")
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{HTTPAddr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTable(proto.RouteTable{Version: 1, Routes: []proto.Route{{App: "web", Hosts: []string{"web." + domain}, Backends: []string{addr}}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln, nil) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: web.%s\r\n\r\n", domain)
	<-started
	cancel()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 200 OK") || !strings.HasSuffix(string(b), "finished") {
		t.Errorf("request in flight at shutdown got %q; want its 200 and then the connection closed", b)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not stop")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the proxy still accepts connections after it stopped")
	}
}

// TestLoopClientLeaves: a client that closes while its backend works
// closes the backend's connection at once (the backend sees its request
// cancelled), and the proxy serves the next client.
func TestLoopClientLeaves(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/wait" {
				select {
				case <-r.Context().Done():
					cancelled <- struct{}{}
				case <-time.After(10 * time.Second):
				}
				return
			}
			io.WriteString(w, "ok")
		}))}},
	}}, nil)
	conn, err := net.Dial("tcp", r.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /wait HTTP/1.1\r\nHost: web.%s\r\n\r\n", domain)
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Error("the backend's request was not cancelled within 3s of its client leaving")
	}
	if code, body := get(t, r.client(false), "http://web."+domain+"/"); code != 200 || body != "ok" {
		t.Errorf("next client: %d %q", code, body)
	}
}
