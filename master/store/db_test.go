package store

import (
	"context"
	"errors"
	"fmt"
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
	s, u := openWithUser(t, ctx)
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
	// UpdateApp's statements run only inside a transaction: they are kept all the same.
	s.db.w.mu.Lock()
	n := len(s.db.w.kept)
	s.db.w.mu.Unlock()
	if n < 2 {
		t.Fatalf("%d statements kept by the writer; want at least UpdateApp's read and write", n)
	}
}

// Writes that queue together share a transaction, each in a savepoint: one
// that fails is undone alone, the others are kept, and each caller learns
// its own outcome.
func TestGroupedWritesFailAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, u := openWithUser(t, ctx)
	const n = 60
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every third one takes a name another one has: a conflict.
			name := fmt.Sprintf("app-%d", i)
			if i%3 == 2 {
				name = fmt.Sprintf("app-%d", i-1)
			}
			errs[i] = s.CreateApp(ctx, App{Name: name, OwnerID: u.ID, Config: api.AppConfig{Runtime: "static"}})
		}()
	}
	wg.Wait()
	conflicts := 0
	for i, err := range errs {
		if errors.Is(err, api.ErrConflict) {
			conflicts++
		} else if err != nil {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if conflicts != n/3 {
		t.Errorf("%d creates were refused as taken names; want %d", conflicts, n/3)
	}
	as, err := s.Apps(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != n-n/3 {
		t.Fatalf("%d apps in the store; want %d (every create that succeeded, none that failed)", len(as), n-n/3)
	}

	// A write whose caller gave up before its turn does not happen.
	gone, stop := context.WithCancel(ctx)
	stop()
	if err := s.CreateApp(gone, App{Name: "late", OwnerID: u.ID}); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with an ended context: %v; want context.Canceled", err)
	}
	if _, err := s.App(ctx, "late"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("the abandoned create happened: %v", err)
	}
}

// A write that has begun runs to its end even if its caller gives up
// meanwhile: interrupting its statement would roll back the transaction
// it shares with other writes.
func TestBegunWriteOutlivesItsContext(t *testing.T) {
	bg, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	s := open(t, filepath.Join(t.TempDir(), "gasper.db"))
	defer s.Close()
	ctx, cancel := context.WithCancel(bg)
	err := s.Tx(ctx, func(tx *tx) error {
		cancel() // the caller leaves while its write runs
		return audit(ctx, tx, Event{Actor: "system", Action: "test.write", Target: "t"})
	})
	if err != nil {
		t.Fatalf("a begun write whose context ended: %v; want it done", err)
	}
	if _, ok, err := s.LastAudit(bg, "t", "test.write"); err != nil || !ok {
		t.Fatalf("the begun write is not in the store (found %v, %v)", ok, err)
	}
}
