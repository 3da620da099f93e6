package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gasper/api"
)

func TestSSHKeysAndAppSettings(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	defer s.Close()
	ann, _ := s.CreateUser(ctx, "ann@example.com", "h", false)
	bob, _ := s.CreateUser(ctx, "bob@example.com", "h", false)
	k := SSHKey{ID: "k-1", UserID: ann.ID, Name: "laptop", Fingerprint: "SHA256:abc", PublicKey: "ssh-ed25519 AAAA", CreatedAt: time.Now()}
	if err := s.AddSSHKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k2 := k
	k2.ID, k2.UserID = "k-2", bob.ID
	if err := s.AddSSHKey(ctx, k2); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("the same key for a second user: %v, want conflict", err)
	}
	got, err := s.SSHKeyByFingerprint(ctx, "SHA256:abc")
	if err != nil || got.UserID != ann.ID || got.Name != "laptop" {
		t.Fatalf("by fingerprint: %+v, %v", got, err)
	}
	if err := s.TouchSSHKey(ctx, "k-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if ks, _ := s.SSHKeys(ctx, ann.ID); len(ks) != 1 || ks[0].LastUsedAt == nil {
		t.Fatalf("ann's keys: %+v", ks)
	}
	if ks, _ := s.SSHKeys(ctx, bob.ID); len(ks) != 0 {
		t.Fatalf("bob's keys: %+v", ks)
	}
	if err := s.DeleteUser(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SSHKey(ctx, "k-1"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("a deleted user's key: %v, want not found", err)
	}

	if err := s.CreateApp(ctx, App{Name: "web", OwnerID: bob.ID}); err != nil {
		t.Fatal(err)
	}
	if a, err := s.AppSSH(ctx, "web"); err != nil || a.PasswordHash != "" || a.PushBranch != "" {
		t.Fatalf("defaults: %+v, %v", a, err)
	}
	if err := s.PutAppSSH(ctx, AppSSH{App: "web", PasswordHash: "x", PushBranch: "prod"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.AppSSH(ctx, "web"); a.PasswordHash != "x" || a.PushBranch != "prod" {
		t.Fatalf("after put: %+v", a)
	}
	if err := s.DeleteApp(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_ssh`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d app_ssh rows after the app was deleted", n)
	}
}
