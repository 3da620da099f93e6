package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// edge reaches one proxy node the way a client that resolved an app's
// name to it would: every http:// URL goes to its plain port, every
// https:// URL to its TLS port, whatever the host.
type edge struct {
	http, https string
	roots       *x509.CertPool // gasper ca
}

// client returns an HTTP client through the proxy. h2 lets TLS connections
// negotiate HTTP/2; otherwise they stay on HTTP/1.1.
func (e edge) client(h2 bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, ":443") {
				return d.DialContext(ctx, network, e.https)
			}
			return d.DialContext(ctx, network, e.http)
		},
		TLSClientConfig:    &tls.Config{RootCAs: e.roots},
		ForceAttemptHTTP2:  h2,
		DisableCompression: true,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

// raw opens a TCP connection to the proxy's plain port.
func (e edge) raw(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.http, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// patternReader yields n bytes of a repeating pattern, so a large body
// costs no memory.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	for i := range n {
		b[i] = byte('a' + i%26)
	}
	p.left -= int64(n)
	return n, nil
}

// TestProtocolsThroughProxy deploys the WebSocket and gRPC examples and
// drives them through a proxy node with real clients: WebSocket over
// HTTP/1.1 and HTTP/2, gRPC over TLS and h2c, 200 MiB each way, and the
// bad input an edge proxy meets.
func TestProtocolsThroughProxy(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	c.agentRoles("node1", "127.0.0.2", c.joinToken(), "app,proxy,dns")
	c.waitNode("node1", "ready", 30*time.Second)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(c.ok("", "ca"))) {
		t.Fatal("gasper ca printed no certificate")
	}
	e := edge{http: c.nets["node1"].http, https: c.nets["node1"].https, roots: roots}

	start := time.Now()
	if _, errOut, code := c.gasper("", "app", "create", "ws", "--from", copyExample(t, "websocket"), "--wait-timeout", "5m"); code != 0 {
		t.Fatalf("app create ws: exit %d\n%s\n%s", code, errOut, c.diagnose("ws", "node1"))
	}
	if _, errOut, code := c.gasper("", "app", "create", "grpcapp", "--from", copyExample(t, "grpc"), "--health-tcp", "--wait-timeout", "5m"); code != 0 {
		t.Fatalf("app create grpcapp: exit %d\n%s\n%s", code, errOut, c.diagnose("grpcapp", "node1"))
	}
	t.Logf("both examples built and running after %s", time.Since(start).Round(time.Second))

	wsHost, grpcHost := "ws."+domain, "grpcapp."+domain
	plain := e.client(false)
	waitFor(t, 20*time.Second, "the proxy to route "+wsHost, func() bool {
		resp, err := plain.Get("http://" + wsHost + "/")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.Contains(string(b), "websocket example")
	})

	t.Run("websocket", func(t *testing.T) {
		for _, tc := range []struct{ name, url string }{
			{"ws over HTTP/1.1", "ws://" + wsHost + "/echo"},
			{"wss over HTTP/1.1", "wss://" + wsHost + "/echo"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				conn, resp, err := websocket.Dial(ctx, tc.url, &websocket.DialOptions{HTTPClient: e.client(false)})
				if err != nil {
					t.Fatalf("dial %s: %v", tc.url, err)
				}
				defer conn.CloseNow()
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Errorf("handshake answered %d", resp.StatusCode)
				}
				for i := range 3 {
					msg := fmt.Sprintf("%s message %d", tc.name, i)
					if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
						t.Fatal(err)
					}
					_, got, err := conn.Read(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if string(got) != "echo: "+msg {
						t.Errorf("got %q, want %q", got, "echo: "+msg)
					}
				}
				if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
					t.Errorf("close handshake: %v", err)
				}
			})
		}
		// coder/websocket's client does not speak RFC 8441, so this one
		// sends the extended CONNECT with x/net's HTTP/2 transport and
		// speaks WebSocket frames on the stream itself.
		t.Run("wss over HTTP/2 (RFC 8441)", func(t *testing.T) { wsOverH2(t, e, wsHost) })
	})

	t.Run("grpc", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			addr string
			opts []grpc.DialOption
		}{
			{"TLS trusting gasper ca", e.https, []grpc.DialOption{grpc.WithTransportCredentials(
				credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: grpcHost}))}},
			{"h2c", e.http, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithAuthority(grpcHost)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cc, err := grpc.DialContext(ctx, tc.addr, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Close()
				h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
				if err != nil {
					t.Fatalf("health check: %v", err)
				}
				if h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("health: %v, want SERVING", h.GetStatus())
				}
				grpcChat(ctx, t, cc, tc.name)
			})
		}
	})

	const big = 200 << 20
	t.Run("200 MiB upload", func(t *testing.T) {
		for _, tc := range []struct {
			name, url string
			h2        bool
			major     int
		}{
			{"HTTP/1.1 chunked", "http://" + wsHost + "/discard", false, 1},
			{"HTTP/2 over TLS", "https://" + wsHost + "/discard", true, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				// No ContentLength: the body goes chunked (HTTP/1.1) or as
				// DATA frames of unknown total (HTTP/2).
				req, _ := http.NewRequest(http.MethodPost, tc.url, io.NopCloser(&patternReader{left: big}))
				resp, err := e.client(tc.h2).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != strconv.Itoa(big) || resp.ProtoMajor != tc.major {
					t.Fatalf("%s: %d %s %q, want 200 HTTP/%d %d", tc.url, resp.StatusCode, resp.Proto, b, tc.major, big)
				}
				t.Logf("uploaded %d bytes in %s", big, time.Since(start).Round(time.Millisecond))
			})
		}
	})
	t.Run("200 MiB download", func(t *testing.T) {
		for _, tc := range []struct {
			name, url string
			h2        bool
			major     int
		}{
			{"HTTP/1.1", "http://" + wsHost + "/stream?bytes=" + strconv.Itoa(big), false, 1},
			{"HTTP/2 over TLS", "https://" + wsHost + "/stream?bytes=" + strconv.Itoa(big), true, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				resp, err := e.client(tc.h2).Get(tc.url)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				// Check the content as well as the count: a proxy that
				// dropped or repeated a buffer would keep the count right
				// only by chance, never the pattern.
				want := &patternReader{left: big}
				wantBuf, gotBuf := make([]byte, 64<<10), make([]byte, 64<<10)
				var n int64
				for {
					k, err := io.ReadFull(resp.Body, gotBuf)
					if k > 0 {
						want.Read(wantBuf[:k])
						// The app restarts its pattern every 64 KiB write;
						// so does patternReader for each 64 KiB read.
						if !bytes.Equal(gotBuf[:k], wantBuf[:k]) {
							t.Fatalf("body differs from what the app sent in the 64 KiB block at %d", n)
						}
						n += int64(k)
					}
					if err == io.EOF || err == io.ErrUnexpectedEOF {
						break
					}
					if err != nil {
						t.Fatalf("after %d bytes: %v", n, err)
					}
				}
				if resp.StatusCode != 200 || n != big || resp.ProtoMajor != tc.major {
					t.Fatalf("%s: %d %s, %d bytes; want 200 HTTP/%d, %d bytes", tc.url, resp.StatusCode, resp.Proto, n, tc.major, big)
				}
				t.Logf("downloaded %d bytes in %s", n, time.Since(start).Round(time.Millisecond))
			})
		}
	})

	t.Run("bad input", func(t *testing.T) {
		t.Run("100 KiB header is 431", func(t *testing.T) {
			conn := e.raw(t)
			req := "GET / HTTP/1.1\r\nHost: " + wsHost + "\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"
			// The proxy stops reading past its limit: write aside, so a
			// full socket buffer cannot block the test.
			go io.WriteString(conn, req)
			if st := rawStatus(t, conn); st != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %d, want 431", st)
			}
		})
		t.Run("unknown Host is 404", func(t *testing.T) {
			resp, err := plain.Get("http://nothing-here." + domain + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 || !strings.Contains(string(b), "nothing-here."+domain) {
				t.Errorf("status %d %q, want 404 naming the host", resp.StatusCode, b)
			}
		})
		t.Run("malformed request line is 400", func(t *testing.T) {
			conn := e.raw(t)
			io.WriteString(conn, "GET /no-version-here\r\nHost: "+wsHost+"\r\n\r\n")
			if st := rawStatus(t, conn); st != http.StatusBadRequest {
				t.Errorf("status %d, want 400", st)
			}
		})
		t.Run("slowloris is cut off while others are served", func(t *testing.T) { slowloris(t, e, plain, wsHost) })
	})
}

// rawStatus reads an HTTP/1.1 response's status from conn.
func rawStatus(t *testing.T, conn net.Conn) int {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// slowloris sends a request's headers one byte a second: the proxy must
// close the connection after its header timeout (10s), and serve a normal
// client meanwhile.
func slowloris(t *testing.T, e edge, plain *http.Client, host string) {
	const headerTimeout = 10 * time.Second
	conn := e.raw(t)
	start := time.Now()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+host+"\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	go func() {
		// Whatever the proxy answers (nothing, or a 408), the read ends
		// when it closes the connection.
		io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	drip := time.NewTicker(time.Second)
	defer drip.Stop()
	deadline := time.After(3 * headerTimeout)
	servedMeanwhile := false
	for {
		select {
		case took := <-closed:
			if took < headerTimeout/2 {
				t.Errorf("the slow client was cut off after %s, before the header timeout could have passed", took)
			}
			if !servedMeanwhile {
				t.Error("no normal request was served while the slow client dripped")
			}
			t.Logf("slow client cut off after %s", took.Round(100*time.Millisecond))
			return
		case <-deadline:
			t.Fatalf("the proxy kept a client sending one header byte a second for %s", 3*headerTimeout)
		case <-drip.C:
			// An error here means the proxy closed: the reader reports it.
			conn.Write([]byte("X"))
			if !servedMeanwhile && time.Since(start) > 2*time.Second {
				resp, err := plain.Get("http://" + host + "/")
				if err != nil {
					t.Fatalf("a normal request while the slow client dripped: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("a normal request while the slow client dripped: %d", resp.StatusCode)
				}
				servedMeanwhile = true
			}
		}
	}
}

// grpcChat runs echo.Echo/Chat, the example's bidirectional stream: each
// message sent comes back before the next goes out, then the client closes
// its side and the server ends the call with OK.
func grpcChat(ctx context.Context, t *testing.T, cc *grpc.ClientConn, tag string) {
	t.Helper()
	s, err := cc.NewStream(ctx, &grpc.StreamDesc{StreamName: "Chat", ServerStreams: true, ClientStreams: true}, "/echo.Echo/Chat")
	if err != nil {
		t.Fatalf("open Chat: %v", err)
	}
	for i := range 5 {
		msg := fmt.Sprintf("%s %d", tag, i)
		if err := s.SendMsg(wrapperspb.String(msg)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got := new(wrapperspb.StringValue)
		if err := s.RecvMsg(got); err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if got.GetValue() != "echo: "+msg {
			t.Errorf("got %q, want %q", got.GetValue(), "echo: "+msg)
		}
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	// io.EOF is the OK status arriving in the trailers.
	if err := s.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Errorf("end of Chat: %v, want the OK status", err)
	}
}

// wsOverH2 opens a WebSocket with an HTTP/2 extended CONNECT (RFC 8441) to
// the proxy's TLS port and echoes three messages.
func wsOverH2(t *testing.T, e edge, host string) {
	tr := &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.roots},
		DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
			return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, e.https)
		},
	}
	defer tr.CloseIdleConnections()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, "https://"+host+"/echo", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		// The agent must have GODEBUG=http2xconnect=1 in its environment
		// from the start: net/http reads it in a package init, so the
		// proxy's HTTP/2 server does not offer extended CONNECT otherwise.
		t.Fatalf("extended CONNECT: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("extended CONNECT answered %s %d", resp.Proto, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		msg := fmt.Sprintf("over h2 %d", i)
		if _, err := pw.Write(maskedFrame(0x1, []byte(msg))); err != nil {
			t.Fatal(err)
		}
		op, got, err := readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 0x1 || string(got) != "echo: "+msg {
			t.Errorf("got opcode %d %q, want text %q", op, got, "echo: "+msg)
		}
	}
	// The close handshake: the app answers with a close frame.
	if _, err := pw.Write(maskedFrame(0x8, []byte{0x03, 0xe8})); err != nil {
		t.Fatal(err)
	}
	if op, _, err := readFrame(br); err != nil || op != 0x8 {
		t.Errorf("after close: opcode %d, %v; want a close frame", op, err)
	}
}

// maskedFrame is one final client frame (clients must mask) of under
// 64 KiB.
func maskedFrame(op byte, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0x80 | op)
	if n := len(payload); n < 126 {
		b.WriteByte(0x80 | byte(n))
	} else {
		b.WriteByte(0x80 | 126)
		binary.Write(&b, binary.BigEndian, uint16(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	b.Write(mask[:])
	for i, c := range payload {
		b.WriteByte(c ^ mask[i%4])
	}
	return b.Bytes()
}

// readFrame reads one unmasked server frame of under 64 KiB.
func readFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l uint16
		if err := binary.Read(br, binary.BigEndian, &l); err != nil {
			return 0, nil, err
		}
		n = int(l)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}
