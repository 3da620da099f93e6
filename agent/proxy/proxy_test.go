package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/proto"
)

func TestRoutingAndErrorPages(t *testing.T) {
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain, "www.example.org"}, Backends: []string{named(t, "web-1")}},
		{App: "api", Hosts: []string{"api." + domain}, Backends: []string{named(t, "api-1")}},
		{App: "idle", Hosts: []string{"idle." + domain}},
		{App: "down", Hosts: []string{"down." + domain}, Backends: []string{deadAddr(t), deadAddr(t)}},
		{App: "slow", Hosts: []string{"slow." + domain}, Backends: []string{slow}},
	}}, func(c *Config) { c.ResponseHeaderTimeout = 300 * time.Millisecond })

	tests := []struct {
		url      string
		wantCode int
		wantBody string
	}{
		{"http://web." + domain + "/", 200, "web-1"},
		{"http://WEB.Apps.Test:8080/x", 200, "web-1"},
		{"http://www.example.org/", 200, "web-1"},
		{"http://api." + domain + "/", 200, "api-1"},
		{"https://api." + domain + "/", 200, "api-1"},
		{"http://nope." + domain + "/", 404, "no app answers at nope." + domain},
		{"http://idle." + domain + "/", 503, "idle has no healthy instance"},
		{"http://down." + domain + "/", 502, "no instance of down could be reached"},
		{"http://slow." + domain + "/", 504, "slow did not answer in time"},
	}
	c := r.client(false)
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			code, body := get(t, c, tt.url)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{named(t, "a"), named(t, "b")}},
	}}, nil)
	c := r.client(false)
	got := map[string]int{}
	for range 10 {
		_, body := get(t, c, "http://web."+domain+"/")
		got[body]++
	}
	if diff := cmp.Diff(map[string]int{"a": 5, "b": 5}, got); diff != "" {
		t.Errorf("requests per backend (-want +got):\n%s", diff)
	}
}

// A route whose first backend is gone (a redeploy moved on) loses no
// request, bodies included.
func TestRetryOnDeadBackend(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{deadAddr(t), named(t, "live"), deadAddr(t)}},
	}}, nil)
	c := r.client(false)
	for i := range 100 {
		var resp *http.Response
		var err error
		if i%2 == 0 {
			resp, err = c.Get("http://web." + domain + "/")
		} else {
			resp, err = c.Post("http://web."+domain+"/", "text/plain", strings.NewReader("some body"))
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "live" {
			t.Fatalf("request %d: got %d %q", i, resp.StatusCode, b)
		}
	}
}

// Tables swapped under load, ending with the old backend gone: no request
// fails.
func TestHotSwapUnderLoad(t *testing.T) {
	oldLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	oldSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		io.WriteString(w, "old")
	})}
	go func() { _ = oldSrv.Serve(oldLn) }()
	t.Cleanup(func() { oldSrv.Close() })
	newB := named(t, "new")
	route := func(v uint64, backends ...string) proto.RouteTable {
		return proto.RouteTable{Version: v, Domain: domain, Routes: []proto.Route{
			{App: "web", Hosts: []string{"web." + domain}, Backends: backends}}}
	}
	r := startProxy(t, route(1, oldLn.Addr().String()), nil)
	withCert := func(t0 proto.RouteTable) proto.RouteTable {
		t0.Certificates = r.p.Table().Certificates
		return t0
	}

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.client(false)
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://web." + domain + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	waitFor(t, 5*time.Second, "traffic", func() bool { return ok.Load() > 200 })
	for v := uint64(2); v < 50; v++ {
		if err := r.p.SetTable(withCert(route(v, oldLn.Addr().String(), newB))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.p.SetTable(withCert(route(50, newB))); err != nil {
		t.Fatal(err)
	}
	// The redeploy's end: the old instance goes away.
	oldSrv.Close()
	mark := ok.Load()
	waitFor(t, 5*time.Second, "traffic after the swap", func() bool { return ok.Load() > mark+200 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed across table swaps", failed.Load(), ok.Load()+failed.Load())
	}
}

func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	hostSeen := make(chan string, 1)
	b := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		hostSeen <- r.Host
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{b}},
	}}, nil)
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			req, _ := http.NewRequest("GET", scheme+"://web."+domain+"/", nil)
			req.Header.Set("X-Forwarded-For", "6.6.6.6")
			req.Header.Set("X-Forwarded-Host", "evil.example")
			req.Header.Set("Forwarded", "for=6.6.6.6")
			req.Header.Set("Connection", "X-Secret")
			req.Header.Set("X-Secret", "hop")
			resp, err := r.client(false).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := <-seen
			got := map[string]string{
				"X-Forwarded-For":   h.Get("X-Forwarded-For"),
				"X-Forwarded-Host":  h.Get("X-Forwarded-Host"),
				"X-Forwarded-Proto": h.Get("X-Forwarded-Proto"),
				"Forwarded":         h.Get("Forwarded"),
				"X-Secret":          h.Get("X-Secret"),
				"Host":              <-hostSeen,
			}
			want := map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "web." + domain,
				"X-Forwarded-Proto": scheme,
				"Forwarded":         "",
				"X-Secret":          "",
				"Host":              "web." + domain,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers at the backend (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedirectHTTPS(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{named(t, "web")}, RedirectHTTPS: true},
	}}, nil)
	c := r.client(false)
	resp, err := c.Get("http://web." + domain + "/a/b?q=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(r.httpsAddr)
	want := "https://web." + domain + ":" + port + "/a/b?q=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("got %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// HTTPS itself is served.
	if code, body := get(t, c, "https://web."+domain+"/"); code != 200 || body != "web" {
		t.Errorf("https: got %d %q", code, body)
	}
}

func TestSetTablePersistsAndValidates(t *testing.T) {
	dir := t.TempDir()
	p, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tbl := proto.RouteTable{Version: 7, Domain: domain, Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{"10.0.0.1:8080"}},
	}}
	if err := p.SetTable(tbl); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "routes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("routes.json mode %v, want 0600", fi.Mode().Perm())
	}
	p2, err := New(Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tbl, p2.Table()); diff != "" {
		t.Errorf("table loaded by a new proxy (-want +got):\n%s", diff)
	}
	// The loaded table routes: a request for web reaches the routing
	// (502 because 10.0.0.1 is not ours to reach), not 404.
	older := tbl
	older.Version = 6
	if err := p2.SetTable(older); !errors.Is(err, ErrStaleTable) {
		t.Errorf("older table: got %v, want ErrStaleTable", err)
	}

	bad := []proto.RouteTable{
		{Version: 8, Routes: []proto.Route{{App: "a", Hosts: []string{"x." + domain}}, {App: "b", Hosts: []string{"x." + domain}}}},
		{Version: 8, Routes: []proto.Route{{App: "a", Hosts: []string{"x." + domain}, Backends: []string{"no-port"}}}},
		{Version: 8, Routes: []proto.Route{{App: "a", Hosts: []string{"X.Upper"}}}},
		{Version: 8, Certificates: []proto.Certificate{{Hosts: []string{"x"}, CertPEM: "junk", KeyPEM: "junk"}}},
	}
	for i, b := range bad {
		if err := p2.SetTable(b); err == nil {
			t.Errorf("bad table %d accepted", i)
		}
	}
	if p2.Table().Version != 7 {
		t.Errorf("a refused table replaced the current one: version %d", p2.Table().Version)
	}
}

func TestHeaderLimitsAndSlowClients(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{named(t, "web")}},
	}}, func(c *Config) { c.ReadHeaderTimeout = 500 * time.Millisecond })

	t.Run("431", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://web."+domain+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
		resp, err := r.client(false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("got %d, want 431", resp.StatusCode)
		}
	})
	t.Run("400", func(t *testing.T) {
		conn, err := net.Dial("tcp", r.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: web.%s\r\nBad Header\r\n\r\n", domain)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if !strings.Contains(line, "400") {
			t.Errorf("malformed request answered %q, want 400", line)
		}
	})
	t.Run("slowloris", func(t *testing.T) {
		conn, err := net.Dial("tcp", r.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: web.%s\r\n", domain) // and never the end
		start := time.Now()
		// Others are served meanwhile.
		if code, body := get(t, r.client(false), "http://web."+domain+"/"); code != 200 || body != "web" {
			t.Errorf("other client: got %d %q", code, body)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("slow client was not cut off: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("slow client cut off after %v, want about 500ms", d)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 408 ") {
			t.Errorf("slow client got %q, want a 408", b)
		}
	})
}

// A backend that dies under a request (the connection drops before any
// answer) costs no GET: it goes to the next backend. A POST is not
// replayed: the backend may have acted on it.
func TestRetryIdempotentOnDroppedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // read the request, then drop the connection unanswered
				c.Read(make([]byte, 4096))
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}()
		}
	}()
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{ln.Addr().String(), named(t, "live")}},
	}}, nil)
	c := r.client(false)
	for i := range 20 {
		if st, body := get(t, c, "http://web."+domain+"/"); st != 200 || body != "live" {
			t.Fatalf("GET %d: %d %q; want the live backend's answer", i, st, body)
		}
	}
	failed := 0
	for range 20 {
		resp, err := c.Post("http://web."+domain+"/", "text/plain", strings.NewReader("once"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("no POST reached the dropping backend: the test proves nothing about replays")
	}
}
