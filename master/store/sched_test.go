package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gasper/api"
)

// TestSchedulingState: a node's cordon, an app's pending reason and the
// newest placement event survive a reopen.
func TestSchedulingState(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "gasper.db")
	s := open(t, file)
	u, err := s.CreateUser(ctx, "a@example.com", "h", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNode(ctx, Node{ID: "n-1", Hostname: "h1", Advertise: "127.0.0.2", State: "ready", JoinedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeCordoned(ctx, "n-1", true); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, App{Name: "web", OwnerID: u.ID, Pending: "needs 8 GiB"}); err != nil {
		t.Fatal(err)
	}
	s.Audit(ctx, "system", "app.place", "web", "on h1")
	s.Audit(ctx, "system", "app.pending", "web", "needs 8 GiB")
	s.Audit(ctx, "a@example.com", "app.restart", "web", "")
	s.Close()

	s = open(t, file)
	defer s.Close()
	if n, err := s.Node(ctx, "n-1"); err != nil || !n.Cordoned {
		t.Errorf("node after reopen: cordoned %v, %v; want cordoned", n.Cordoned, err)
	}
	if a, err := s.App(ctx, "web"); err != nil || a.Pending != "needs 8 GiB" {
		t.Errorf("app after reopen: pending %q, %v", a.Pending, err)
	}
	e, ok, err := s.LastAudit(ctx, "web", "app.place", "app.pending")
	if err != nil || !ok || e.Action != "app.pending" || e.Detail != "needs 8 GiB" {
		t.Errorf("LastAudit = %+v, %v, %v; want the pending event", e, ok, err)
	}
	if _, ok, err := s.LastAudit(ctx, "other", "app.place"); ok || err != nil {
		t.Errorf("LastAudit of an app without events: %v, %v", ok, err)
	}
	if err := s.SetNodeCordoned(ctx, "n-2", true); err == nil {
		t.Error("cordoning an unknown node succeeded")
	}
}

// TestLatestRelease: the scheduler asks for an app's newest release only.
func TestLatestRelease(t *testing.T) {
	ctx := context.Background()
	s, u := openWithUser(t, ctx)
	if err := s.CreateApp(ctx, App{Name: "web", OwnerID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestRelease(ctx, "web"); err == nil {
		t.Fatal("LatestRelease of an app without releases: no error")
	}
	for _, status := range []string{"ready", "failed", "building"} {
		if _, err := s.CreateRelease(ctx, Release{Release: api.Release{App: "web", Status: status, Cause: "deploy"}}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.LatestRelease(ctx, "web"); err != nil || r.Number != 3 || r.Status != "building" {
		t.Errorf("LatestRelease = %d %s, %v; want 3 building", r.Number, r.Status, err)
	}
}

// NewestBuilding lists an app only while its newest release builds.
func TestNewestBuilding(t *testing.T) {
	ctx := context.Background()
	s, u := openWithUser(t, ctx)
	releases := map[string][]string{
		"waits":    {"ready", "building"},
		"replaced": {"building", "failed"},
		"built":    {"ready"},
		"first":    {"building"},
	}
	for app, statuses := range releases {
		if err := s.CreateApp(ctx, App{Name: app, OwnerID: u.ID}); err != nil {
			t.Fatal(err)
		}
		for _, status := range statuses {
			if _, err := s.CreateRelease(ctx, Release{Release: api.Release{App: app, Status: status, Cause: "deploy"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.NewestBuilding(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["waits"].Number != 2 || got["first"].Number != 1 {
		t.Fatalf("NewestBuilding = %v; want waits (release 2) and first (release 1)", got)
	}
	all, err := s.NewestReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for app, statuses := range releases {
		if r := all[app]; r.Number != len(statuses) || r.Status != statuses[len(statuses)-1] {
			t.Errorf("NewestReleases[%s] = release %d %s; want %d %s", app, r.Number, r.Status, len(statuses), statuses[len(statuses)-1])
		}
	}
}
