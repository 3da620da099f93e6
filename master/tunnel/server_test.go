package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"gasper/master/pki"
	"gasper/proto"
)

// fakeAuthority admits the node "n1" with credential "good"; the credential
// "boom" makes it fail with an internal error.
type fakeAuthority struct{}

func (fakeAuthority) Join(context.Context, string, proto.Facts) (string, string, error) {
	return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "unknown join token"}
}

func (fakeAuthority) Authenticate(_ context.Context, id, cred string, _ proto.Facts) error {
	switch {
	case cred == "boom":
		return errors.New("database is locked: /var/lib/gasper/master.db")
	case id != "n1" || cred != "good":
		return &proto.Error{Code: proto.ErrNodeUnknown, Message: "unknown node"}
	}
	return nil
}

type events struct {
	mu          sync.Mutex
	connects    int
	disconnects int
}

func startServer(t *testing.T, cfg Config) (*Server, string, *events) {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS, err = ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authority = fakeAuthority{}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ev := &events{}
	cfg.OnConnect = func(string, proto.Facts) { ev.mu.Lock(); ev.connects++; ev.mu.Unlock() }
	cfg.OnDisconnect = func(string) { ev.mu.Lock(); ev.disconnects++; ev.mu.Unlock() }
	cfg.Handler = func(nodeID string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+nodeID) })
	}
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	rootsByAddr.Store(ln.Addr().String(), pool)
	return s, ln.Addr().String(), ev
}

var rootsByAddr sync.Map

// rawDial does the agent's side of the handshake by hand and returns the
// Welcome and, if admitted, the yamux client session.
func rawDial(t *testing.T, addr string, hello any) (proto.Welcome, *yamux.Session) {
	t.Helper()
	pool, _ := rootsByAddr.Load(addr)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool.(*x509.CertPool), ServerName: pki.TunnelServerName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	line, ok := hello.(string)
	if !ok {
		b, _ := json.Marshal(hello)
		line = string(b)
	}
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	rd := bufio.NewReader(conn)
	b, err := rd.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the welcome: %v", err)
	}
	conn.SetDeadline(time.Time{})
	var w proto.Welcome
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if w.Error != nil {
		return w, nil
	}
	sess, err := yamux.Client(bufferedConn{Conn: conn, r: rd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return w, sess
}

func TestHandshakeRefusals(t *testing.T) {
	_, addr, _ := startServer(t, Config{})
	tests := []struct {
		name     string
		hello    any
		wantCode string
		wantMsg  string
	}{
		{name: "not JSON", hello: "hello master", wantCode: proto.ErrBadHello, wantMsg: "not valid JSON"},
		{name: "no identity", hello: proto.Hello{ProtoVersion: proto.Version}, wantCode: proto.ErrBadHello, wantMsg: "neither a join token nor a node id"},
		{name: "newer agent", hello: proto.Hello{ProtoVersion: proto.Version + 6, NodeID: "n1", Credential: "good"}, wantCode: proto.ErrVersion, wantMsg: "this master serves 1..2: upgrade the master"},
		{name: "older agent", hello: proto.Hello{ProtoVersion: 0, NodeID: "n1", Credential: "good"}, wantCode: proto.ErrVersion, wantMsg: "agent speaks protocol 0, this master serves 1..2: upgrade the agent"},
		{name: "bad token", hello: proto.Hello{ProtoVersion: proto.Version, JoinToken: "x"}, wantCode: proto.ErrTokenInvalid, wantMsg: "unknown join token"},
		{name: "bad credential", hello: proto.Hello{ProtoVersion: proto.Version, NodeID: "n1", Credential: "bad"}, wantCode: proto.ErrNodeUnknown, wantMsg: "unknown node"},
		{name: "internal error is not leaked", hello: proto.Hello{ProtoVersion: proto.Version, NodeID: "n1", Credential: "boom"}, wantCode: proto.ErrInternal, wantMsg: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := rawDial(t, addr, tt.hello)
			if w.Error == nil {
				t.Fatalf("welcome %+v has no error", w)
			}
			if w.Error.Code != tt.wantCode || !strings.Contains(w.Error.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want code %s and a message containing %q", w.Error, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(w.Error.Message, "database") {
				t.Errorf("internal details leaked to the agent: %q", w.Error.Message)
			}
		})
	}
}

func TestReplacedSessionKeepsNodeConnected(t *testing.T) {
	s, addr, ev := startServer(t, Config{})
	hello := proto.Hello{ProtoVersion: proto.Version, NodeID: "n1", Credential: "good"}
	w, first := rawDial(t, addr, hello)
	if w.Error != nil || w.NodeID != "n1" || w.HeartbeatInterval != 5*time.Second {
		t.Fatalf("welcome = %+v", w)
	}
	waitFor(t, func() bool { return s.Connected("n1") })

	_, second := rawDial(t, addr, hello)
	waitFor(t, first.IsClosed)
	// The old session's end must not mark the node gone.
	time.Sleep(50 * time.Millisecond) // let a wrong OnDisconnect surface
	ev.mu.Lock()
	connects, disconnects := ev.connects, ev.disconnects
	ev.mu.Unlock()
	if connects != 2 || disconnects != 0 || !s.Connected("n1") {
		t.Fatalf("after replacement: connects=%d disconnects=%d connected=%v, want 2, 0, true", connects, disconnects, s.Connected("n1"))
	}

	// The master reaches the node over the new session.
	hc, ok := s.Client("n1")
	if !ok {
		t.Fatal("Client(n1) not found")
	}
	go http.Serve(second, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong "+r.URL.Path) }))
	resp, err := hc.Get("http://agent" + proto.PathPing)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pong "+proto.PathPing {
		t.Errorf("master -> agent call answered %q", body)
	}
	// The node reaches the master's handler.
	stream, err := second.Open()
	if err != nil {
		t.Fatal(err)
	}
	agentClient := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return stream, nil }}}
	resp, err = agentClient.Get("http://master/anything")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello n1" {
		t.Errorf("agent -> master call answered %q", body)
	}

	s.Disconnect("n1")
	waitFor(t, func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.disconnects == 1 && !s.Connected("n1")
	})
	if _, ok := s.Client("n1"); ok {
		t.Error("Client(n1) still found after Disconnect")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	_, addr, _ := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Say nothing: the master must hang up after the timeout.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent client was not cut off in time: err=%v after %v", err, time.Since(start))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
