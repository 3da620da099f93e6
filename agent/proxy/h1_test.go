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
