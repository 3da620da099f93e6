package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gasper/api"
)

// A statement first met inside a transaction is prepared after it, not
// inside (which would wait for the connection the transaction holds), and
// writers and readers side by side neither block for good nor see a
// statement's rows mixed with another's.
func TestPreparedStatementsUnderConcurrentUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	defer s.Close()
	u, err := s.CreateUser(ctx, "ann@example.com", "hash", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		if err := s.CreateApp(ctx, App{Name: name, OwnerID: u.ID, Config: api.AppConfig{Runtime: "static"}, Replicas: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 4 {
		name := string(rune('a' + i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 25 {
				a, err := s.UpdateApp(ctx, name, func(a *App) error { a.Generation = n + 1; return nil })
				if err == nil && a.Generation != n+1 {
					t.Errorf("app %s: wrote generation %d, got %d back", name, n+1, a.Generation)
				}
				if err == nil {
					a, err = s.App(ctx, name)
				}
				if err == nil && a.Name != name {
					t.Errorf("asked for app %s, got %s", name, a.Name)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c", "d"} {
		if a, err := s.App(ctx, name); err != nil || a.Generation != 25 {
			t.Fatalf("app %s after the writes: generation %d, %v; want 25", name, a.Generation, err)
		}
	}
	// UpdateApp's UPDATE runs only inside a transaction: it is kept all the same.
	s.db.mu.Lock()
	n := len(s.db.stmts)
	s.db.mu.Unlock()
	if n < 3 {
		t.Fatalf("%d statements kept; want at least the app read and UpdateApp's read and write", n)
	}
}
