package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/proto"
)

// echoPath answers the method, path and body it got.
func echoPath(t *testing.T) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	}))
}

// TestPipelinedKeepAlive sends three requests in one write, one with a
// body, the last asking to close: they are answered in order on the one
// connection, which then closes.
func TestPipelinedKeepAlive(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{echoPath(t)}},
	}}, nil)
	conn, err := net.Dial("tcp", r.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	h := "Host: web." + domain + "\r\n"
	fmt.Fprint(conn, "GET /a HTTP/1.1\r\n"+h+"\r\n"+
		"POST /b HTTP/1.1\r\n"+h+"Content-Length: 5\r\n\r\nhello"+
		"GET /c HTTP/1.1\r\n"+h+"Connection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	var got []string
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, b))
	}
	want := []string{"200 GET /a ", "200 POST /b hello", "200 GET /c "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pipelined answers (-want +got):\n%s", diff)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after Connection: close got %d bytes, %v; want the connection closed", n, err)
	}
}

// TestBadRequestsOverTLS: the header limit and malformed requests are
// answered over TLS as on the plain port.
func TestBadRequestsOverTLS(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{named(t, "web")}},
	}}, nil)
	req, _ := http.NewRequest("GET", "https://web."+domain+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := r.client(false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB header over TLS: got %d, want 431", resp.StatusCode)
	}
	// A request line without a version.
	tc, err := tls.Dial("tcp", r.httpsAddr, &tls.Config{ServerName: "web." + domain, RootCAs: r.ca.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprintf(tc, "GET /\r\nHost: web.%s\r\n\r\n", domain)
	line, _ := bufio.NewReader(tc).ReadString('\n')
	if !strings.Contains(line, " 400 ") {
		t.Errorf("malformed request over TLS answered %q, want 400", line)
	}
	// Plain HTTP to the TLS port gets told so, as net/http's server does.
	pc, err := net.Dial("tcp", r.httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(pc, "GET / HTTP/1.1\r\nHost: web.%s\r\n\r\n", domain)
	b, _ := io.ReadAll(pc)
	if !strings.HasPrefix(string(b), "HTTP/1.0 400 ") || !strings.Contains(string(b), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port answered %q, want 400 saying to use HTTPS", b)
	}
}

// TestAccessLog: one line per request with its status and body size,
// for a small answer and a streamed one, over HTTP/1.1 and HTTP/2.
func TestAccessLog(t *testing.T) {
	rec := &records{}
	b := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.CopyN(w, zeros{}, 1<<20) // no length: streamed
			return
		}
		io.WriteString(w, "small")
	}))
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{b}},
	}}, func(c *Config) { c.AccessLogger = slog.New(rec) })
	for _, u := range []string{"http://web." + domain + "/small", "http://web." + domain + "/big", "https://web." + domain + "/big", "http://nope." + domain + "/"} {
		get(t, r.client(strings.HasPrefix(u, "https")), u)
	}
	waitFor(t, 5*time.Second, "4 access log lines", func() bool { return rec.len() == 4 })
	got := rec.lines()
	// A streamed answer is logged when its body is done, which may be
	// after the next request's line.
	sort.Strings(got)
	want := []string{
		"web.apps.test GET /small HTTP/1.1 200 5 web",
		"web.apps.test GET /big HTTP/1.1 200 1048576 web",
		"web.apps.test GET /big HTTP/2.0 200 1048576 web",
		"nope.apps.test GET / HTTP/1.1 404 48 ",
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
}

// records is a slog handler keeping "host method path proto status bytes
// app" of each access line.
type records struct {
	mu sync.Mutex
	l  []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.l = append(r.l, strings.Join([]string{m["host"], m["method"], m["path"], m["proto"], m["status"], m["bytes"], m["app"]}, " "))
	return nil
}
func (r *records) len() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.l) }
func (r *records) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.l...)
}

// TestEarlyHints has the backend answer 103 Early Hints before its
// response: clients get it on every request (HTTP/1.1 ones from the event
// loop), then the response.
func TestEarlyHints(t *testing.T) {
	const link = "</style.css>; rel=preload; as=style"
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", link)
			w.WriteHeader(http.StatusEarlyHints)
			clear(w.Header())
			fmt.Fprint(w, "page")
		}))}},
	}}, nil)
	for _, tc := range []struct {
		name, url string
		h2        bool
		hinted    []bool // per request, on one connection
	}{
		{"http/1.1", "http://web." + domain + "/", false, []bool{true, true}},
		{"https/1.1", "https://web." + domain + "/", false, []bool{true, true}},
		{"h2", "https://web." + domain + "/", true, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := r.client(tc.h2)
			for i, want := range tc.hinted {
				var hints []string
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
					return nil
				}}
				req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", tc.url, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "page" || resp.Header.Get("Link") != "" {
					t.Errorf("request %d: got %d %q, Link %q; want 200 \"page\" and no Link", i, resp.StatusCode, b, resp.Header.Get("Link"))
				}
				var wantHints []string
				if want {
					wantHints = []string{"103 " + link}
				}
				if diff := cmp.Diff(wantHints, hints); diff != "" {
					t.Errorf("request %d: informational responses (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}
