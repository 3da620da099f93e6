package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gasper/api"
)

func open(t *testing.T, file string) *Store {
	t.Helper()
	s, err := Open(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openWithUser opens a new store with one admin user, for tests of apps.
func openWithUser(t *testing.T, ctx context.Context) (*Store, User) {
	t.Helper()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	t.Cleanup(func() { s.Close() })
	u, err := s.CreateUser(ctx, "ann@example.com", "hash", true)
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

func TestReopenKeepsStateAndSchema(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "gasper.db")
	s := open(t, file)
	if _, err := s.CreateUser(ctx, "Ann@Example.com", "hash", true); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateNode(ctx, Node{ID: "n-1", Hostname: "h", Advertise: "127.0.0.2", Roles: []string{"app", "db"},
		State: api.NodeReady, Facts: api.NodeFacts{CPUs: 2}, JoinedAt: now, LastSeen: &now}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, file) // migrations must not run twice
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	u, err := s.User(ctx, "ann@example.com") // emails match case-insensitively
	if err != nil || !u.Admin {
		t.Fatalf("user after reopen: %+v, %v", u, err)
	}
	n, err := s.Node(ctx, "n-1")
	if err != nil || n.Facts.CPUs != 2 || len(n.Roles) != 2 || n.LastSeen == nil {
		t.Fatalf("node after reopen: %+v, %v", n, err)
	}
	if _, err := os.Stat(file + "-wal"); err != nil {
		t.Errorf("no WAL file: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	defer s.Close()
	a, _ := s.CreateUser(ctx, "a@example.com", "h", true)
	if _, err := s.CreateUser(ctx, "A@example.com", "h", false); !errors.Is(err, api.ErrConflict) {
		t.Errorf("duplicate email: %v, want conflict", err)
	}
	if _, err := s.User(ctx, "nobody@example.com"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("missing user: %v, want not found", err)
	}
	if err := s.SetAdmin(ctx, a.ID, false); !errors.Is(err, api.ErrConflict) {
		t.Errorf("revoking the last admin: %v, want conflict", err)
	}
	if err := s.DeleteUser(ctx, a.ID); !errors.Is(err, api.ErrConflict) {
		t.Errorf("deleting the last admin: %v, want conflict", err)
	}
	if err := s.DeleteNode(ctx, "n-none"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("missing node: %v, want not found", err)
	}
}

func TestDeletingAUserDeletesTheirCredentials(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	defer s.Close()
	s.CreateUser(ctx, "admin@example.com", "h", true)
	b, _ := s.CreateUser(ctx, "b@example.com", "h", false)
	tok := APIToken{UserID: b.ID, SecretHash: "x"}
	tok.ID, tok.Name, tok.CreatedAt = "t-1", "t", time.Now()
	if err := s.CreateAPIToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	s.CreateSession(ctx, "s-1", b.ID, "h", time.Now().Add(time.Hour))
	if err := s.DeleteUser(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.APIToken(ctx, "t-1"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("token of deleted user: %v", err)
	}
	if _, err := s.Session(ctx, "s-1"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("session of deleted user: %v", err)
	}
}
