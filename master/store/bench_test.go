package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"gasper/api"
)

// BenchmarkSchedulerWrites is what placing one app costs the store: read
// it, write its nodes in a transaction, append an audit event, with
// thousands of apps in the table.
func BenchmarkSchedulerWrites(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "gasper.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateUser(ctx, "ann@example.com", "hash", true)
	if err != nil {
		b.Fatal(err)
	}
	const apps = 5000
	for i := range apps {
		if err := s.CreateApp(ctx, App{Name: fmt.Sprintf("app-%d", i), OwnerID: u.ID, Config: api.AppConfig{Runtime: "static"}, Replicas: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("app-%d", i%apps)
		if _, err := s.App(ctx, name); err != nil {
			b.Fatal(err)
		}
		if _, err := s.UpdateApp(ctx, name, func(a *App) error { a.Nodes = []string{"n-1"}; return nil }); err != nil {
			b.Fatal(err)
		}
		if err := s.Audit(ctx, "system", "app.place", name, "on n-1"); err != nil {
			b.Fatal(err)
		}
	}
}
