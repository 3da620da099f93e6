package proxy

import (
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/proto"
)

// exchange is what one request looks like at both ends of the proxy.
type exchange struct {
	BackendSaw  map[string]string // request line, Host and headers
	Status      int
	Header      map[string]string // response headers, less Date
	Body        string
	Trailer     map[string]string
	ClientProto string
}

// TestForwardedExchange sends a GET whose answer has hop-by-hop headers, a
// chunked body and trailers over HTTP/1.1, HTTPS and HTTP/2, and a HEAD:
// the backend must see the request as the proxy should pass it, and the
// client the answer without what belonged to the backend's connection.
func TestForwardedExchange(t *testing.T) {
	saw := make(chan map[string]string, 1)
	b := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := map[string]string{"line": r.Method + " " + r.RequestURI + " " + r.Proto, "host": r.Host}
		for k, v := range r.Header {
			m[k] = strings.Join(v, "|")
		}
		saw <- m
		h := w.Header()
		h.Set("Trailer", "X-Sum")
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "dropped")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-App", "kept")
		h.Set("Content-Type", "text/plain")
		h.Add("Set-Cookie", "a=1")
		h.Add("Set-Cookie", "b=2")
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		h.Set("X-Sum", "42")
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{b}},
	}}, nil)
	do := func(method, url string, h2 bool) exchange {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		req.Header.Set("Forwarded", "for=6.6.6.6")
		if !h2 { // HTTP/2 has no Connection header
			req.Header.Set("Connection", "X-Secret")
			req.Header.Set("X-Secret", "hop")
		}
		req.Header.Set("Te", "trailers")
		req.Header.Add("Accept", "text/plain")
		req.Header.Add("Accept", "text/html")
		resp, err := r.client(h2).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		ex := exchange{BackendSaw: map[string]string{}, Status: resp.StatusCode, Body: string(body),
			Header: map[string]string{}, Trailer: map[string]string{}, ClientProto: resp.Proto}
		for k, v := range <-saw {
			switch k {
			case "User-Agent", "Accept-Encoding":
				// The client's own, which differ by protocol.
			default:
				ex.BackendSaw[k] = v
			}
		}
		for k, v := range resp.Header {
			if k != "Date" {
				vs := append([]string(nil), v...)
				sort.Strings(vs)
				ex.Header[k] = strings.Join(vs, "|")
			}
		}
		for k, v := range resp.Trailer {
			ex.Trailer[k] = strings.Join(v, "|")
		}
		return ex
	}
	for _, c := range []struct {
		method, url string
		h2          bool
		want        exchange
	}{
		{"GET", "http://web." + domain + "/path?q=1", false, exchange{ClientProto: "HTTP/1.1", Body: "part one, part two", Trailer: map[string]string{"X-Sum": "42"}}},
		{"GET", "https://web." + domain + "/path?q=1", false, exchange{ClientProto: "HTTP/1.1", Body: "part one, part two", Trailer: map[string]string{"X-Sum": "42"}}},
		{"GET", "https://web." + domain + "/path?q=1", true, exchange{ClientProto: "HTTP/2.0", Body: "part one, part two", Trailer: map[string]string{"X-Sum": "42"}}},
		{"HEAD", "http://web." + domain + "/", false, exchange{ClientProto: "HTTP/1.1", Trailer: map[string]string{}}},
		{"HEAD", "https://web." + domain + "/", true, exchange{ClientProto: "HTTP/2.0", Trailer: map[string]string{}}},
	} {
		scheme, _, _ := strings.Cut(c.url, ":")
		path := "/path?q=1"
		if c.method == "HEAD" {
			path = "/"
		}
		c.want.Status = 200
		c.want.BackendSaw = map[string]string{
			"line": c.method + " " + path + " HTTP/1.1", "host": "web." + domain,
			"Accept": "text/plain|text/html", "Te": "trailers",
			"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "web." + domain, "X-Forwarded-Proto": scheme,
		}
		c.want.Header = map[string]string{"Content-Type": "text/plain", "Set-Cookie": "a=1|b=2", "X-App": "kept"}
		if c.method == "HEAD" && !c.h2 {
			// Go's client takes it into resp.Trailer only with a body.
			c.want.Header["Trailer"] = "X-Sum"
		}
		got := do(c.method, c.url, c.h2)
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s %s (h2 %v) (-want +got):\n%s", c.method, c.url, c.h2, diff)
		}
	}
}

// TestRetriesClosedIdleConn: a backend that closes idle
// connections quickly (as many app servers do) costs no request.
func TestRetriesClosedIdleConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		IdleTimeout: 20 * time.Millisecond,
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
	c := r.client(false)
	for i := range 5 {
		if code, body := get(t, c, "http://web."+domain+"/"); code != 200 || body != "ok" {
			t.Fatalf("request %d after the backend closed its idle connection: %d %q", i, code, body)
		}
		time.Sleep(80 * time.Millisecond)
	}
	if n := conns.Load(); n < 5 {
		t.Errorf("%d backend connections for 5 requests 80ms apart: the idle ones were not closed by the backend, the test proves nothing", n)
	}
}

// TestClientGone: a client that stops waiting frees the backend
// connection at once, not after ResponseHeaderTimeout.
func TestClientGone(t *testing.T) {
	ended := make(chan struct{}, 1)
	b := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			ended <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{b}},
	}}, nil)
	c := r.client(false)
	c.Timeout = 200 * time.Millisecond
	if _, err := c.Get("http://web." + domain + "/"); err == nil {
		t.Fatal("the request did not time out at the client")
	}
	select {
	case <-ended:
	case <-time.After(3 * time.Second):
		t.Fatal("the backend still waits 3s after the client left")
	}
}
