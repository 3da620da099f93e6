package proxy

import (
	"bufio"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valyala/fasthttp"
)

// TestParseRequestHead: the loop takes only plain bodiless HTTP/1.1
// requests, and passes their lines on without the hop-by-hop ones and
// what the client said about forwarding.
func TestParseRequestHead(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       string // the backend's request; "" when refused
	}{
		{"plain", "GET /a?b=1 HTTP/1.1\r\nHost: web.apps.test\r\nAccept: x\r\n\r\n",
			"GET /a?b=1 HTTP/1.1\r\nHost: web.apps.test\r\nAccept: x\r\nX-Forwarded-Host: web.apps.test\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n"},
		{"hop-by-hop and forwarding dropped, order kept",
			"GET / HTTP/1.1\r\nA: 1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=x\r\nTE: trailers, deflate\r\nProxy-Authorization: x\r\nA: 2\r\nContent-Length: 0\r\n\r\n",
			"GET / HTTP/1.1\r\nA: 1\r\nHost: h\r\nA: 2\r\nContent-Length: 0\r\nTe: trailers\r\nX-Forwarded-Host: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\n\r\n"},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n\r\n", ""},
		{"a body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", ""},
		{"chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", ""},
		{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", ""},
		{"expect", "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", ""},
		{"connection names a field", "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n", ""},
		{"folded line", "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n 2\r\n\r\n", ""},
		{"bare LF", "GET / HTTP/1.1\nHost: h\r\n\r\n", ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ""},
		{"no host", "GET / HTTP/1.1\r\nA: b\r\n\r\n", ""},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: h\r\nA: b\x01\r\n\r\n", ""},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r rawRequest
			if !parseRequestHead([]byte(tc.head), &r) {
				if tc.want != "" {
					t.Fatalf("refused %q", tc.head)
				}
				return
			}
			if tc.want == "" {
				t.Fatalf("took %q", tc.head)
			}
			if diff := cmp.Diff(tc.want, string(appendRequest(nil, &r, "10.0.0.1", false))); diff != "" {
				t.Errorf("backend's request (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzRequestHead: whatever the loop takes, fasthttp (the full server)
// reads too, as the same method, target and Host; so a request never gets
// a different answer for the path it takes.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /x?y HTTP/1.1\r\nHost: a.b:80\r\nConnection: close\r\nTE: trailers\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		var r rawRequest
		if !parseRequestHead([]byte(head), &r) {
			return
		}
		var h fasthttp.RequestHeader
		h.DisableNormalizing()
		if err := h.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
			t.Fatalf("loop took %q, fasthttp refused it: %v", head, err)
		}
		if string(h.Method()) != string(r.method) || string(h.RequestURI()) != string(r.uri) || string(h.Host()) != string(r.host) {
			t.Fatalf("%q: loop read %q %q %q, fasthttp %q %q %q", head, r.method, r.uri, r.host, h.Method(), h.RequestURI(), h.Host())
		}
	})
}

// TestParseResponseHead: framing and the fields passed on to the client.
func TestParseResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		err        bool
		length     int
		close      bool
		out        string
	}{
		{name: "length", head: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\n", length: 3,
			out: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\n"},
		{name: "chunked, trailer announced", head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n", length: -1,
			out: "HTTP/1.1 200 OK\r\n\r\n"},
		{name: "to the end", head: "HTTP/1.1 200 OK\r\nA: b\r\n\r\n", length: -2, out: "HTTP/1.1 200 OK\r\nA: b\r\n\r\n"},
		{name: "connection names a field", head: "HTTP/1.1 204 No Content\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nX-End: 2\r\n\r\n",
			length: -2, close: true, out: "HTTP/1.1 204 No Content\r\nX-End: 2\r\n\r\n"},
		{name: "HTTP/1.0 closes", head: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", close: true,
			out: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "HTTP/1.0 kept alive", head: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			out: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "no reason", head: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", out: "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"},
		{name: "lengths disagree", head: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", err: true},
		{name: "bad length", head: "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", err: true},
		{name: "not HTTP", head: "ICY 200 OK\r\n\r\n", err: true},
		{name: "bad field", head: "HTTP/1.1 200 OK\r\nA b: c\r\n\r\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r rawResponse
			err := parseResponseHead([]byte(tc.head), &r)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if r.length != tc.length || r.close != tc.close {
				t.Errorf("length %d close %v, want %d %v", r.length, r.close, tc.length, tc.close)
			}
			if got := string(appendResponse(nil, &r)); got != tc.out {
				t.Errorf("client's head %q, want %q", got, tc.out)
			}
		})
	}
}

// TestLookupHost finds routes as normHost would, and nothing for names
// the full server should look up.
func TestLookupHost(t *testing.T) {
	rt := &route{app: "web"}
	hosts := map[string]*route{"web.apps.test": rt}
	for host, want := range map[string]*route{
		"web.apps.test": rt, "WEB.Apps.Test": rt, "web.apps.test:8080": rt, "web.apps.test.": rt,
		"other.apps.test": nil, "[::1]:80": nil, strings.Repeat("a", 300): nil,
	} {
		if got := lookupHost(hosts, []byte(host)); got != want {
			t.Errorf("%q: got %v, want %v", host, got, want)
		}
		if want != nil && hosts[normHost(host)] != want {
			t.Errorf("%q: normHost disagrees", host)
		}
	}
	if n := testing.AllocsPerRun(100, func() { lookupHost(hosts, []byte("Web.apps.test:80")) }); n != 0 {
		t.Errorf("lookupHost allocates %v times", n)
	}
}
