package nodes

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gasper/api"
	"gasper/internal/jointoken"
	"gasper/master/store"
	"gasper/proto"
)

var ca = []byte("test CA certificate")

func newRegistry(t *testing.T, grace time.Duration) (*Registry, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gasper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := New(context.Background(), Config{Store: st, CACertDER: ca, Interval: grace / 4, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

var facts = proto.Facts{Hostname: "node1", Advertise: "127.0.0.2", Roles: []string{"app"}, CPUs: 2}

func TestJoin(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t, time.Second)
	good, _, err := r.IssueJoinToken(ctx, "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, _ := r.IssueJoinToken(ctx, "admin", time.Nanosecond)
	foreign, _ := jointoken.New([]byte("another CA"))
	unknown, _ := jointoken.New(ca)
	wrongSecret := good
	wrongSecret.Secret = unknown.Secret
	time.Sleep(time.Millisecond)

	for _, tt := range []struct {
		name, token, code string
		facts             proto.Facts
	}{
		{"expired", expired.String(), proto.ErrTokenExpired, facts},
		{"other CA", foreign.String(), proto.ErrTokenInvalid, facts},
		{"unknown", unknown.String(), proto.ErrTokenInvalid, facts},
		{"wrong secret", wrongSecret.String(), proto.ErrTokenInvalid, facts},
		{"malformed", "hello", proto.ErrTokenInvalid, facts},
		{"bad role", good.String(), proto.ErrBadHello, proto.Facts{Hostname: "h", Advertise: "a", Roles: []string{"root"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := r.Join(ctx, tt.token, tt.facts)
			var pe *proto.Error
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
		})
	}
	id, cred, err := r.Join(ctx, good.String(), facts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Authenticate(ctx, id, cred, facts); err != nil {
		t.Fatalf("returning node: %v", err)
	}
	var pe *proto.Error
	if err := r.Authenticate(ctx, id, "wrong", facts); !errors.As(err, &pe) || pe.Code != proto.ErrNodeUnknown {
		t.Fatalf("wrong credential: %v", err)
	}
	if err := r.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := r.Authenticate(ctx, id, cred, facts); !errors.As(err, &pe) || pe.Code != proto.ErrNodeUnknown {
		t.Fatalf("removed node: %v", err)
	}
}

func TestSilentNodeGoesDownAndComesBack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grace := 400 * time.Millisecond
	r, st := newRegistry(t, grace)
	tok, _, _ := r.IssueJoinToken(ctx, "admin", time.Hour)
	id, _, err := r.Join(ctx, tok.String(), facts)
	if err != nil {
		t.Fatal(err)
	}
	r.Connected(id, facts)
	go r.Run(ctx)

	state := func() string {
		n, err := r.Node(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return n.State
	}
	// Heartbeats keep it ready past several graces.
	var silent time.Time
	for end := time.Now().Add(3 * grace); time.Now().Before(end); time.Sleep(grace / 4) {
		silent = time.Now()
		r.Heartbeat(id, proto.Heartbeat{Usage: proto.Usage{Load1: 0.5}})
		if s := state(); s != api.NodeReady {
			t.Fatalf("heartbeating node is %s", s)
		}
	}
	for state() != api.NodeDown {
		if time.Since(silent) > grace+time.Second {
			t.Fatalf("node still %s %s after its last heartbeat (grace %s)", state(), time.Since(silent), grace)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(silent); took < grace {
		t.Fatalf("node down after %s, before the grace %s", took, grace)
	}
	if n, _ := st.Node(ctx, id); n.State != api.NodeDown {
		t.Fatalf("store says %s, want down", n.State)
	}
	if got := r.Heartbeat(id, proto.Heartbeat{}); got != api.NodeReady {
		t.Fatalf("heartbeat after down: state %s", got)
	}
	if n, _ := st.Node(ctx, id); n.State != api.NodeReady {
		t.Fatalf("store says %s after return, want ready", n.State)
	}
	n, _ := r.Node(ctx, "node1") // by hostname
	if n.ID != id {
		t.Fatalf("node by hostname: %+v", n)
	}
}
