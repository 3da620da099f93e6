package nodepush

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// agent is a node's HTTP side: it counts pushes, can hold one, and fails the first n.
type agent struct {
	srv     *httptest.Server
	pushes  atomic.Int32
	failFor atomic.Int32
	hold    chan struct{}
	mu      sync.Mutex
	last    []string
	query   string
}

func newAgent(t *testing.T) *agent {
	a := &agent{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "PUT" || r.URL.Path != "/v1/things" {
			http.Error(w, "wrong route", 404)
			return
		}
		a.pushes.Add(1)
		if a.hold != nil {
			<-a.hold
		}
		if a.failFor.Add(-1) >= 0 {
			http.Error(w, "not now", 500)
			return
		}
		var v []string
		json.NewDecoder(r.Body).Decode(&v)
		a.mu.Lock()
		a.last, a.query = v, r.URL.RawQuery
		a.mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *agent) Client(string) (*http.Client, bool) {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", a.srv.Listener.Addr().String())
	}}}, true
}

func TestKicksCoalesceAndFailuresRetry(t *testing.T) {
	a := newAgent(t)
	var version atomic.Int32
	p := New(Config{What: "things", Path: "/v1/things", Tunnel: a, RetryAfter: 50 * time.Millisecond,
		Desired: func(ctx context.Context, nodeID string) (any, error) {
			return []string{nodeID, string(rune('0' + version.Load()))}, nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)

	// While one push is held, many kicks make one more push, not many.
	a.hold = make(chan struct{})
	p.Kick("n1")
	waitFor(t, func() bool { return a.pushes.Load() == 1 })
	version.Store(1)
	for range 20 {
		p.Kick("n1")
	}
	close(a.hold)
	waitFor(t, func() bool { return a.pushes.Load() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := a.pushes.Load(); n != 2 {
		t.Errorf("21 kicks during one push made %d pushes, want 2", n)
	}
	a.mu.Lock()
	if a.last[1] != "1" {
		t.Errorf("the agent has %v, want the set as it was after the kicks", a.last)
	}
	a.mu.Unlock()

	// A failed push is tried again until the agent takes it.
	a.hold = nil
	a.failFor.Store(2)
	version.Store(2)
	p.Kick("n1")
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.last[1] == "2" })
	if n := a.pushes.Load(); n != 5 {
		t.Errorf("%d pushes, want 5 (2 before, 2 failed, 1 taken)", n)
	}

	// Once the context ends, nothing more is pushed.
	cancel()
	before := a.pushes.Load()
	p.Kick("n1")
	time.Sleep(100 * time.Millisecond)
	if a.pushes.Load() != before {
		t.Error("pushed after the context ended")
	}
	p.Kick("") // ignored, no panic
}

// The query a push carries is asked with each push: it says how things stand
// when the set is sent (for apps: whether the node is routed).
func TestQueryGoesWithEachPush(t *testing.T) {
	a := newAgent(t)
	var unrouted atomic.Bool
	p := New(Config{What: "things", Path: "/v1/things", Tunnel: a,
		Desired: func(ctx context.Context, nodeID string) (any, error) { return []string{nodeID}, nil },
		Query: func(ctx context.Context, nodeID string) string {
			if unrouted.Load() {
				return "unrouted=1"
			}
			return ""
		}})
	unrouted.Store(true)
	if err := p.Push(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	if a.query != "unrouted=1" || len(a.last) != 1 || a.last[0] != "n1" {
		t.Errorf("push to an unrouted node: query %q, set %v; want unrouted=1 and [n1]", a.query, a.last)
	}
	a.mu.Unlock()
	unrouted.Store(false)
	if err := p.Push(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	if a.query != "" {
		t.Errorf("push to a routed node: query %q, want none", a.query)
	}
	a.mu.Unlock()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
