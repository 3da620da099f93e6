package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"gasper/proto"
)

// protoEcho answers the protocol the backend was reached with.
func protoEcho(t *testing.T) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s", r.Proto)
	}))
}

func TestHTTP2OverTLS(t *testing.T) {
	other := newTestCA(t, "shop.example.org")
	r := startProxy(t, proto.RouteTable{
		Routes: []proto.Route{
			{App: "web", Hosts: []string{"web." + domain}, Backends: []string{protoEcho(t)}},
			{App: "shop", Hosts: []string{"shop.example.org"}, Backends: []string{protoEcho(t)}},
		},
		Certificates: []proto.Certificate{{Hosts: []string{"shop.example.org"}, CertPEM: other.certPEM, KeyPEM: other.keyPEM}},
	}, nil)
	c := r.client(true)
	resp, err := c.Get("https://web." + domain + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "backend saw HTTP/1.1" {
		t.Errorf("got %s %q, want HTTP/2 to the client and HTTP/1.1 to the backend", resp.Proto, b)
	}

	// The uploaded certificate for the custom domain is chosen by SNI.
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.RootCAs = other.pool
	if code, body := get(t, c, "https://shop.example.org/"); code != 200 || body != "backend saw HTTP/1.1" {
		t.Errorf("custom domain: got %d %q", code, body)
	}

	// A name without certificate fails the handshake.
	conn, err := tls.Dial("tcp", r.httpsAddr, &tls.Config{ServerName: "nocert.example.net", RootCAs: r.ca.pool})
	if err == nil {
		conn.Close()
		t.Error("handshake for a name without certificate succeeded")
	}
}

func TestH2C(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "web", Hosts: []string{"web." + domain}, Backends: []string{protoEcho(t)}},
	}}, nil)

	t.Run("prior knowledge", func(t *testing.T) {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		c := &http.Client{Transport: &http.Transport{
			Protocols: &protos,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, r.httpAddr)
			},
		}}
		resp, err := c.Get("http://web." + domain + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "backend saw HTTP/1.1" {
			t.Errorf("got %s %q", resp.Proto, b)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		conn, err := net.Dial("tcp", r.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET /up HTTP/1.1\r\nHost: web.%s\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", domain)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade answered %d", resp.StatusCode)
		}
		// The answer to the upgrading request comes on stream 1 over HTTP/2.
		if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(conn, br)
		if err := fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
		var status, body string
		dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
			if f.Name == ":status" {
				status = f.Value
			}
		})
		for done := false; !done; {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("reading h2 frames: %v", err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
					t.Fatal(err)
				}
				done = f.StreamEnded()
			case *http2.DataFrame:
				body += string(f.Data())
				done = f.StreamEnded()
			}
		}
		if status != "200" || body != "backend saw HTTP/1.1" {
			t.Errorf("got :status %q body %q", status, body)
		}
	})
}

// wsEcho is a WebSocket echo backend (HTTP/1.1).
func wsEcho(t *testing.T) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
}

func TestWebSocketHTTP1(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "ws", Hosts: []string{"ws." + domain}, Backends: []string{wsEcho(t)}},
	}}, nil)
	for _, url := range []string{"ws://ws." + domain + "/", "wss://ws." + domain + "/"} {
		t.Run(url, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: r.client(false)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for i := range 3 {
				msg := fmt.Sprintf("hello %d", i)
				if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != "echo: "+msg {
					t.Errorf("got %q", got)
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("closing: %v", err)
			}
		})
	}
}

// TestWebSocketHTTP2 opens a WebSocket by extended CONNECT (RFC 8441) over
// TLS and speaks raw frames on the stream; the backend is an HTTP/1.1
// WebSocket server.
func TestWebSocketHTTP2(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "ws", Hosts: []string{"ws." + domain}, Backends: []string{wsEcho(t)}},
	}}, nil)
	// net/http's client refuses the ":protocol" pseudo-header; the x/net
	// HTTP/2 transport speaks extended CONNECT.
	c := &http.Client{Transport: &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: r.ca.pool},
		DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
			return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, r.httpsAddr)
		},
	}}
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodConnect, "https://ws."+domain+"/chat", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("extended CONNECT answered %s %d", resp.Proto, resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		msg := fmt.Sprintf("over h2 %d", i)
		if _, err := pw.Write(wsFrame(0x1, []byte(msg))); err != nil {
			t.Fatal(err)
		}
		op, got, err := readWSFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 0x1 || string(got) != "echo: "+msg {
			t.Errorf("got opcode %d %q", op, got)
		}
	}
	// Close handshake: the backend answers with a close frame.
	if _, err := pw.Write(wsFrame(0x8, []byte{0x03, 0xe8})); err != nil {
		t.Fatal(err)
	}
	if op, _, err := readWSFrame(br); err != nil || op != 0x8 {
		t.Errorf("after close: opcode %d, %v", op, err)
	}
}

// wsFrame is one final, masked client frame.
func wsFrame(op byte, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(0x80 | op)
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(0x80 | byte(n))
	default:
		b.WriteByte(0x80 | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b.Write(mask[:])
	for i, c := range payload {
		b.WriteByte(c ^ mask[i%4])
	}
	return b.Bytes()
}

// readWSFrame reads one unmasked server frame.
func readWSFrame(br *bufio.Reader) (byte, []byte, error) {
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

// grpcBackend serves health (unary), reflection (bidi streaming) and, for
// any other method, an error with a custom trailer, over h2c.
func grpcBackend(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		stream.SetTrailer(metadata.Pairs("x-gasper-trailer", "kept"))
		return status.Error(codes.Unimplemented, "no such method here")
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func TestGRPC(t *testing.T) {
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "rpc", Hosts: []string{"rpc." + domain}, Backends: []string{grpcBackend(t)}},
	}}, nil)
	cases := []struct {
		name string
		addr string
		opts []grpc.DialOption
	}{
		{"tls", r.httpsAddr, []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: r.ca.pool, ServerName: "rpc." + domain}))}},
		{"h2c", r.httpAddr, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("rpc." + domain)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			conn, err := grpc.DialContext(ctx, tc.addr, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()

			// Unary.
			hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatalf("health check: %v", err)
			}
			if hr.Status != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health: %v", hr.Status)
			}
			// Status and custom trailers come back.
			var tr metadata.MD
			err = conn.Invoke(ctx, "/gasper.Nope/Call", &emptypb.Empty{}, &emptypb.Empty{}, grpc.Trailer(&tr))
			if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "no such method here") {
				t.Errorf("error call: got %v, want Unimplemented from the backend", err)
			}
			if got := tr.Get("x-gasper-trailer"); len(got) != 1 || got[0] != "kept" {
				t.Errorf("trailer: got %v", tr)
			}

			// Bidirectional streaming: each request answered before the next is sent.
			stream, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := stream.Send(&reflectpb.ServerReflectionRequest{
					MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{ListServices: ""},
				}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				resp, err := stream.Recv()
				if err != nil {
					t.Fatalf("recv %d: %v", i, err)
				}
				if len(resp.GetListServicesResponse().GetService()) < 2 {
					t.Errorf("recv %d: %v", i, resp)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Errorf("end of stream: got %v, want EOF", err)
			}
		})
	}
}
