package tunnel_test

// These tests run the agent's tunnel client against the real master tunnel
// server over loopback. Only tests import the master: the agent binary does
// not.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gasper/agent/tunnel"
	"gasper/internal/jointoken"
	"gasper/master/pki"
	mtunnel "gasper/master/tunnel"
	"gasper/proto"
)

// authority is a map-backed tunnel.Authority.
type authority struct {
	mu      sync.Mutex
	tokens  map[string]tokenRec // token id -> record
	nodes   map[string]string   // node id -> credential
	joins   int
	lastFct proto.Facts
}

type tokenRec struct {
	secretHash string
	expires    time.Time
}

func newAuthority() *authority {
	return &authority{tokens: map[string]tokenRec{}, nodes: map[string]string{}}
}

func (a *authority) addToken(t *testing.T, ca *pki.CA, ttl time.Duration) string {
	t.Helper()
	tok, err := jointoken.New(ca.CertDER())
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.tokens[tok.ID] = tokenRec{secretHash: tok.SecretHash(), expires: time.Now().Add(ttl)}
	a.mu.Unlock()
	return tok.String()
}

func (a *authority) Join(_ context.Context, s string, facts proto.Facts) (string, string, error) {
	tok, err := jointoken.Parse(s)
	if err != nil {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "malformed join token"}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, ok := a.tokens[tok.ID]
	if !ok || rec.secretHash != tok.SecretHash() {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "unknown join token or wrong secret"}
	}
	if time.Now().After(rec.expires) {
		return "", "", &proto.Error{Code: proto.ErrTokenExpired, Message: "join token " + tok.ID + " expired"}
	}
	a.joins++
	id := fmt.Sprintf("node-%d", a.joins)
	b := make([]byte, 16)
	rand.Read(b)
	a.nodes[id] = hex.EncodeToString(b)
	a.lastFct = facts
	return id, a.nodes[id], nil
}

func (a *authority) Authenticate(_ context.Context, id, cred string, facts proto.Facts) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if want, ok := a.nodes[id]; !ok || want != cred {
		return &proto.Error{Code: proto.ErrNodeUnknown, Message: "unknown node or wrong credential"}
	}
	a.lastFct = facts
	return nil
}

func (a *authority) remove(id string) {
	a.mu.Lock()
	delete(a.nodes, id)
	a.mu.Unlock()
}

// master is a tunnel server listening on loopback.
type master struct {
	srv        *mtunnel.Server
	addr       string
	heartbeats atomic.Int64
	connects   atomic.Int64
	stop       func()
}

func startMaster(t *testing.T, ca *pki.CA, auth mtunnel.Authority, addr string) *master {
	t.Helper()
	tlsCfg, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	m := &master{}
	m.srv = mtunnel.New(mtunnel.Config{
		TLS:               tlsCfg,
		Authority:         auth,
		HeartbeatInterval: 100 * time.Millisecond,
		Logger:            testLogger(t),
		OnConnect:         func(string, proto.Facts) { m.connects.Add(1) },
		Handler: func(nodeID string) http.Handler {
			mux := http.NewServeMux()
			mux.HandleFunc("POST "+proto.PathHeartbeat, func(w http.ResponseWriter, r *http.Request) {
				var hb proto.Heartbeat
				if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				m.heartbeats.Add(1)
				json.NewEncoder(w).Encode(proto.HeartbeatAck{Seq: hb.Seq, State: "ready"})
			})
			return mux
		},
	})
	m.listen(t, addr)
	return m
}

func (m *master) listen(t *testing.T, addr string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// The port of a master that just stopped can take a moment to free.
	waitFor(t, 20*time.Second, "listening on "+addr, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	m.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.srv.Serve(ctx, ln) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(m.stop)
}

// agent runs a tunnel client in the background.
type agent struct {
	c      *tunnel.Client
	done   chan error
	exited atomic.Bool // Run already returned and runError took its result
	rtts   atomic.Int64
	stop   func()
}

func startAgent(t *testing.T, cfg tunnel.Config) *agent {
	t.Helper()
	a := &agent{done: make(chan error, 1)}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 300*time.Millisecond
	if cfg.Facts == nil {
		cfg.Facts = func() proto.Facts { return proto.Facts{Hostname: "test-host", Roles: []string{proto.RoleApp}} }
	}
	cfg.OnHeartbeat = func(rtt time.Duration, ack proto.HeartbeatAck) {
		if rtt > 0 && ack.State == "ready" {
			a.rtts.Add(1)
		}
	}
	c, err := tunnel.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.c = c
	ctx, cancel := context.WithCancel(context.Background())
	go func() { a.done <- c.Run(ctx) }()
	var once sync.Once
	a.stop = func() {
		once.Do(func() {
			cancel()
			if a.exited.Load() {
				return
			}
			select {
			case err := <-a.done:
				if err != nil {
					t.Errorf("Run after cancel: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(a.stop)
	return a
}

// runError waits for Run to fail by itself and returns its error.
func (a *agent) runError(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		if err == nil {
			t.Fatal("Run returned nil, want an error")
		}
		a.exited.Store(true)
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run kept going; want it to give up with an error")
		return nil
	}
}

func TestJoinHeartbeatAndCallsBothWays(t *testing.T) {
	ca := newCA(t)
	auth := newAuthority()
	m := startMaster(t, ca, auth, "")
	stateDir := t.TempDir()
	a := startAgent(t, tunnel.Config{Master: m.addr, JoinToken: auth.addToken(t, ca, time.Hour), StateDir: stateDir})

	waitFor(t, 20*time.Second, "the agent to connect", a.c.Connected)
	nodeID := a.c.NodeID()
	if nodeID != "node-1" {
		t.Fatalf("NodeID() = %q, want node-1", nodeID)
	}
	id, ok, err := tunnel.LoadIdentity(stateDir)
	if err != nil || !ok {
		t.Fatalf("LoadIdentity: %v %v", ok, err)
	}
	if id.NodeID != nodeID || id.Credential == "" || id.Master != m.addr || !strings.Contains(id.CACertPEM, "BEGIN CERTIFICATE") {
		t.Errorf("saved identity = %+v", id)
	}
	fi, err := os.Stat(tunnel.IdentityPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity.json mode = %v, want 0600", fi.Mode().Perm())
	}
	auth.mu.Lock()
	adv := auth.lastFct.Advertise
	auth.mu.Unlock()
	if adv != "127.0.0.1" {
		t.Errorf("advertise defaulted to %q, want the tunnel's local address 127.0.0.1", adv)
	}

	// Agent -> master: heartbeats reach the master's handler and are acked.
	waitFor(t, 20*time.Second, "3 acknowledged heartbeats", func() bool { return a.rtts.Load() >= 3 && m.heartbeats.Load() >= 3 })

	// Master -> agent: ping and facts over a stream the master opens.
	hc, ok := m.srv.Client(nodeID)
	if !ok || !m.srv.Connected(nodeID) {
		t.Fatal("the master does not see the node as connected")
	}
	var ping struct {
		NodeID string `json:"node_id"`
	}
	getJSON(t, hc, "http://agent"+proto.PathPing, &ping)
	if ping.NodeID != nodeID {
		t.Errorf("ping answered node_id %q, want %q", ping.NodeID, nodeID)
	}
	var facts proto.Facts
	getJSON(t, hc, "http://agent"+proto.PathFacts, &facts)
	if facts.Hostname != "test-host" {
		t.Errorf("facts hostname = %q, want test-host", facts.Hostname)
	}

	// A restarted agent reconnects with its credential, not the token.
	a.stop()
	waitFor(t, 20*time.Second, "the master to see the node go", func() bool { return !m.srv.Connected(nodeID) })
	b := startAgent(t, tunnel.Config{Master: m.addr, StateDir: stateDir})
	waitFor(t, 20*time.Second, "the restarted agent to connect", b.c.Connected)
	if got := b.c.NodeID(); got != nodeID {
		t.Errorf("after restart NodeID() = %q, want %q", got, nodeID)
	}
	auth.mu.Lock()
	joins := auth.joins
	auth.mu.Unlock()
	if joins != 1 {
		t.Errorf("the token was redeemed %d times, want 1", joins)
	}
}

func TestReconnectsAfterMasterRestart(t *testing.T) {
	ca := newCA(t)
	auth := newAuthority()
	m := startMaster(t, ca, auth, "")
	a := startAgent(t, tunnel.Config{Master: m.addr, JoinToken: auth.addToken(t, ca, time.Hour), StateDir: t.TempDir()})
	waitFor(t, 20*time.Second, "the agent to connect", a.c.Connected)
	nodeID := a.c.NodeID()

	m.stop()
	waitFor(t, 20*time.Second, "the agent to notice the master is gone", func() bool { return !a.c.Connected() })
	m.listen(t, m.addr)
	waitFor(t, 20*time.Second, "the agent to reconnect by itself", func() bool { return m.srv.Connected(nodeID) && a.c.Connected() })
	before := a.rtts.Load()
	waitFor(t, 20*time.Second, "heartbeats on the new session", func() bool { return a.rtts.Load() > before })
}

func TestFatalErrors(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	auth := newAuthority()
	m := startMaster(t, ca, auth, "")

	tests := []struct {
		name  string
		cfg   func(t *testing.T) tunnel.Config
		wants []string
	}{
		{
			name: "malformed token",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{JoinToken: "gsp1_abc"}
			},
			wants: []string{"join token is malformed"},
		},
		{
			name: "no identity and no token",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{}
			},
			wants: []string{"has not joined yet", "--token"},
		},
		{
			name: "wrong secret",
			cfg: func(t *testing.T) tunnel.Config {
				tok, _ := jointoken.Parse(auth.addToken(t, ca, time.Hour))
				tok.Secret = strings.Repeat("0", 32)
				return tunnel.Config{JoinToken: tok.String()}
			},
			wants: []string{"rejected the join token", "wrong secret", "gasper node token"},
		},
		{
			name: "expired token",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{JoinToken: auth.addToken(t, ca, -time.Minute)}
			},
			wants: []string{"the join token has expired", "ask an admin for a new one: gasper node token"},
		},
		{
			name: "token for another CA",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{JoinToken: auth.addToken(t, other, time.Hour)}
			},
			wants: []string{"is not the one this join token was made for (CA fingerprint mismatch): check the --token and master address"},
		},
		{
			name: "agent too new",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{JoinToken: auth.addToken(t, ca, time.Hour), ProtoVersion: 7}
			},
			wants: []string{fmt.Sprintf("agent speaks protocol 7, this master serves %d..%d: upgrade the master", proto.MinVersion, proto.Version)},
		},
		{
			name: "agent too old",
			cfg: func(t *testing.T) tunnel.Config {
				return tunnel.Config{JoinToken: auth.addToken(t, ca, time.Hour), ProtoVersion: -1}
			},
			wants: []string{"agent speaks protocol -1", "upgrade the agent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg(t)
			cfg.Master, cfg.StateDir = m.addr, t.TempDir()
			err := startAgent(t, cfg).runError(t)
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run error = %q\nwant it to contain %q", err, want)
				}
			}
			if _, ok, _ := tunnel.LoadIdentity(cfg.StateDir); ok {
				t.Errorf("a refused agent saved an identity")
			}
		})
	}
}

func TestRemovedNodeStops(t *testing.T) {
	ca := newCA(t)
	auth := newAuthority()
	m := startMaster(t, ca, auth, "")
	stateDir := t.TempDir()
	a := startAgent(t, tunnel.Config{Master: m.addr, JoinToken: auth.addToken(t, ca, time.Hour), StateDir: stateDir})
	waitFor(t, 20*time.Second, "the agent to connect", a.c.Connected)

	auth.remove(a.c.NodeID())
	m.srv.Disconnect(a.c.NodeID())
	err := a.runError(t)
	var perr *proto.Error
	if !errors.As(err, &perr) || perr.Code != proto.ErrNodeUnknown {
		t.Errorf("Run error %v does not wrap a node_unknown proto.Error", err)
	}
	want := "this node was removed from the cluster; delete " + tunnel.IdentityPath(stateDir) + " and join again with a new token"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Run error = %q\nwant it to contain %q", err, want)
	}
}

func TestPinnedCAChanged(t *testing.T) {
	ca := newCA(t)
	auth := newAuthority()
	m := startMaster(t, ca, auth, "")
	stateDir := t.TempDir()
	a := startAgent(t, tunnel.Config{Master: m.addr, JoinToken: auth.addToken(t, ca, time.Hour), StateDir: stateDir})
	waitFor(t, 20*time.Second, "the agent to connect", a.c.Connected)
	a.stop()
	m.stop()

	// A reinstalled master at the same address has a new CA.
	m2 := startMaster(t, newCA(t), auth, "")
	err := startAgent(t, tunnel.Config{Master: m2.addr, StateDir: stateDir}).runError(t)
	if !errors.Is(err, tunnel.ErrCAMismatch) || !strings.Contains(err.Error(), "presents a different CA than the one this node joined with") {
		t.Errorf("Run error = %v, want a CA mismatch naming the pinned CA", err)
	}
}

func TestUnreachableMasterIsNotFatal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ca := newCA(t)
	auth := newAuthority()
	var attempts atomic.Int64
	logger := slog.New(slog.NewTextHandler(countWriter{&attempts}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := startAgent(t, tunnel.Config{Master: addr, JoinToken: auth.addToken(t, ca, time.Hour), StateDir: t.TempDir(), Logger: logger})
	waitFor(t, 20*time.Second, "several connection attempts", func() bool { return attempts.Load() >= 3 })
	select {
	case err := <-a.done:
		t.Fatalf("Run gave up on an unreachable master: %v", err)
	default:
	}
	// The master comes up late; the agent joins by itself.
	startMaster(t, ca, auth, addr)
	waitFor(t, 10*time.Second, "the agent to join once the master is up", a.c.Connected)
}

// countWriter counts log lines about failed attempts.
type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "cannot reach the master") {
		w.n.Add(1)
	}
	return len(p), nil
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func getJSON(t *testing.T, hc *http.Client, url string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decoding: %v", url, err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
