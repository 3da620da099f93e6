package nodes

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

// A down node that is heard from again stays down until Ready: OnReturn is
// told once, and the node is ready only when it says so.
func TestReturningNodeWaitsForReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grace := 300 * time.Millisecond
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gasper.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	told := make(chan string, 4)
	r, err := New(ctx, Config{Store: st, CACertDER: ca, Interval: grace / 4, Grace: grace,
		OnReturn: func(id string) { told <- id }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := r.IssueJoinToken(ctx, "admin", time.Hour)
	id, _, err := r.Join(ctx, tok.String(), facts)
	if err != nil {
		t.Fatal(err)
	}
	go r.Run(ctx)
	state := func() string { n, _ := r.Node(ctx, id); return n.State }
	deadline := time.Now().Add(3 * time.Second)
	for state() != api.NodeDown {
		if time.Now().After(deadline) {
			t.Fatal("silent node never went down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Ready(id) {
		t.Fatal("Ready made a node ready that was not returning")
	}
	for range 3 {
		if got := r.Heartbeat(id, proto.Heartbeat{}); got != api.NodeDown {
			t.Fatalf("returning node's heartbeat: state %s, want down until Ready", got)
		}
	}
	select {
	case got := <-told:
		if got != id {
			t.Fatalf("OnReturn for %s, want %s", got, id)
		}
	case <-time.After(time.Second):
		t.Fatal("OnReturn not called")
	}
	if len(told) != 0 || !r.Returning(id) {
		t.Fatalf("OnReturn called %d more times; returning %v", len(told), r.Returning(id))
	}
	if !r.Ready(id) || state() != api.NodeReady {
		t.Fatalf("after Ready: %s", state())
	}
	if n, _ := st.Node(ctx, id); n.State != api.NodeReady {
		t.Fatalf("store says %s after Ready", n.State)
	}
}

// A master that starts gives the nodes it knows the grace plus the agents'
// reconnect slack: heartbeats missed while it was down do not count.
func TestRestartedMasterGivesNodesSlack(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grace := 200 * time.Millisecond
	r, st := newRegistry(t, grace)
	tok, _, _ := r.IssueJoinToken(ctx, "admin", time.Hour)
	id, _, err := r.Join(ctx, tok.String(), facts)
	if err != nil {
		t.Fatal(err)
	}
	// The master restarts: a new registry on the same store.
	r2, err := New(ctx, Config{Store: st, CACertDER: ca, Interval: grace / 4, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	go r2.Run(ctx)
	time.Sleep(grace + time.Second)
	if n, _ := r2.Node(ctx, id); n.State != api.NodeReady {
		t.Fatalf("node %s %s after the master started, within grace + slack", n.State, grace+time.Second)
	}
}
