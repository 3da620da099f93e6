package tuitest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"gasper/api"
	"gasper/tui"
)

// Env is what Contract runs against: a fresh master (no apps, databases
// or other users yet) and clients of two of its users.
type Env struct {
	// Admin is an admin's client; User a plain user's, who owns nothing.
	Admin, User tui.Client
	// Source, when set, returns a gzip'd tar of a static site, and the
	// master has a node that builds and runs apps: the contract then also
	// deploys, restarts, rebuilds and rolls back an app, waiting up to Wait.
	Source func() io.Reader
	Wait   time.Duration
}

// Contract checks that c behaves as the dashboard relies on: the errors it
// branches on (not found, conflict, forbidden, bad request), ownership,
// and what each action changes.
func Contract(t *testing.T, env Env) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, user := env.Admin, env.User

	me, err := admin.WhoAmI(ctx)
	if err != nil || !me.Admin {
		t.Fatalf("admin WhoAmI = %+v, %v; want an admin", me, err)
	}
	plain, err := user.WhoAmI(ctx)
	if err != nil || plain.Admin {
		t.Fatalf("user WhoAmI = %+v, %v; want a plain user", plain, err)
	}

	t.Run("apps", func(t *testing.T) {
		a, err := admin.CreateApp(ctx, api.CreateAppRequest{Name: "ct-web", AppConfig: api.AppConfig{Runtime: "static"},
			Env: map[string]string{"GREETING": "hi"}})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if a.Name != "ct-web" || a.Status != api.AppCreated || a.Release != 0 || a.Owner != me.Email ||
			!slices.Equal(a.EnvNames, []string{"GREETING"}) || a.Instances == nil {
			t.Errorf("created app = %+v; want ct-web, created, release 0, owned by %s, env names [GREETING], no instances", a, me.Email)
		}
		wantErr(t, "create again", api.ErrConflict, func() error {
			_, err := admin.CreateApp(ctx, api.CreateAppRequest{Name: "ct-web"})
			return err
		})
		wantErr(t, "create Bad_Name", api.ErrBadRequest, func() error {
			_, err := admin.CreateApp(ctx, api.CreateAppRequest{Name: "Bad_Name"})
			return err
		})
		wantErr(t, "create with runtime cobol", api.ErrBadRequest, func() error {
			_, err := admin.CreateApp(ctx, api.CreateAppRequest{Name: "ct-cobol", AppConfig: api.AppConfig{Runtime: "cobol"}})
			return err
		})

		if names := appNames(t, ctx, admin); !slices.Contains(names, "ct-web") {
			t.Errorf("admin's apps = %v, want ct-web among them", names)
		}
		if names := appNames(t, ctx, user); slices.Contains(names, "ct-web") {
			t.Errorf("user's apps = %v: another user's app shows", names)
		}
		wantErr(t, "user restarts another's app", api.ErrNotFound, func() error { return user.Restart(ctx, "ct-web") })
		wantErr(t, "user deletes another's app", api.ErrNotFound, func() error { return user.DeleteApp(ctx, "ct-web") })
		wantErr(t, "user scales another's app", api.ErrNotFound, func() error { _, err := user.Scale(ctx, "ct-web", 2); return err })
		wantErr(t, "scale to 101", api.ErrBadRequest, func() error { _, err := admin.Scale(ctx, "ct-web", 101); return err })
		if a, err := admin.Scale(ctx, "ct-web", 2); err != nil || a.Replicas != 2 {
			t.Errorf("scale to 2 = %+v, %v; want 2 replicas", a, err)
		}

		rels, err := admin.Releases(ctx, "ct-web")
		if err != nil || len(rels) != 0 || rels == nil {
			t.Errorf("releases of a new app = %v, %v; want an empty list", rels, err)
		}
		wantErr(t, "restart without a release", api.ErrConflict, func() error { return admin.Restart(ctx, "ct-web") })
		wantErr(t, "rebuild without a source", api.ErrConflict, func() error {
			_, err := admin.Rebuild(ctx, "ct-web")
			return err
		})
		wantErr(t, "rollback without a release", api.ErrConflict, func() error {
			_, err := admin.Rollback(ctx, "ct-web", 0)
			return err
		})
		wantErr(t, "logs of an app that never ran", api.ErrConflict, func() error {
			rc, err := admin.Logs(ctx, "ct-web", false, 10)
			if err == nil {
				rc.Close()
			}
			return err
		})
		for what, call := range map[string]func() error{
			"restart":  func() error { return admin.Restart(ctx, "ct-missing") },
			"scale":    func() error { _, err := admin.Scale(ctx, "ct-missing", 1); return err },
			"delete":   func() error { return admin.DeleteApp(ctx, "ct-missing") },
			"releases": func() error { _, err := admin.Releases(ctx, "ct-missing"); return err },
			"logs":     func() error { _, err := admin.Logs(ctx, "ct-missing", true, 0); return err },
		} {
			wantErr(t, what+" of a missing app", api.ErrNotFound, call)
		}

		if err := admin.DeleteApp(ctx, "ct-web"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if names := appNames(t, ctx, admin); slices.Contains(names, "ct-web") {
			t.Errorf("apps after delete = %v", names)
		}
	})

	t.Run("nodes and users", func(t *testing.T) {
		if _, err := admin.Nodes(ctx); err != nil {
			t.Errorf("admin's nodes: %v", err)
		}
		wantErr(t, "user lists nodes", api.ErrForbidden, func() error { _, err := user.Nodes(ctx); return err })
		wantErr(t, "user lists users", api.ErrForbidden, func() error { _, err := user.Users(ctx); return err })
		wantErr(t, "user removes a node", api.ErrForbidden, func() error { return user.RemoveNode(ctx, "ct-none") })
		wantErr(t, "remove a missing node", api.ErrNotFound, func() error { return admin.RemoveNode(ctx, "ct-none") })
		wantErr(t, "user cordons a node", api.ErrForbidden, func() error { _, err := user.CordonNode(ctx, "ct-none", true); return err })
		wantErr(t, "cordon a missing node", api.ErrNotFound, func() error { _, err := admin.CordonNode(ctx, "ct-none", true); return err })
		wantErr(t, "user drains a node", api.ErrForbidden, func() error { _, err := user.DrainNode(ctx, "ct-none"); return err })
		wantErr(t, "drain a missing node", api.ErrNotFound, func() error { _, err := admin.DrainNode(ctx, "ct-none"); return err })
		us, err := admin.Users(ctx)
		if err != nil {
			t.Fatalf("users: %v", err)
		}
		var emails []string
		for _, u := range us {
			emails = append(emails, u.Email)
		}
		if !slices.Contains(emails, me.Email) || !slices.Contains(emails, plain.Email) {
			t.Errorf("users = %v, want %s and %s among them", emails, me.Email, plain.Email)
		}
	})

	t.Run("databases", func(t *testing.T) {
		ds, err := admin.Databases(ctx)
		if err != nil || ds == nil {
			t.Fatalf("databases = %v, %v; want a list", ds, err)
		}
		d, err := admin.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "ct-db", Engine: "redis"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if d.Name != "ct-db" || d.Engine != "redis" || d.Owner != me.Email || d.Password == "" ||
			!slices.Contains([]string{api.DBPending, api.DBCreating, api.DBReady}, d.Status) {
			t.Errorf("created database = %+v; want ct-db, redis, owned by %s, its password, pending, creating or ready", d, me.Email)
		}
		wantErr(t, "create again", api.ErrConflict, func() error {
			_, err := admin.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "ct-db", Engine: "redis"})
			return err
		})
		wantErr(t, "create with 1 MiB", api.ErrBadRequest, func() error {
			_, err := admin.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "ct-tiny", Engine: "redis", MemoryBytes: 1 << 20})
			return err
		})
		ds, _ = admin.Databases(ctx)
		if i := slices.IndexFunc(ds, func(x api.Database) bool { return x.Name == "ct-db" }); i < 0 || ds[i].Password != "" {
			t.Errorf("admin's databases = %+v; want ct-db, without its password", ds)
		}
		if ds, _ := user.Databases(ctx); slices.ContainsFunc(ds, func(x api.Database) bool { return x.Name == "ct-db" }) {
			t.Errorf("user's databases show another user's: %+v", ds)
		}
		wantErr(t, "user deletes another's database", api.ErrNotFound, func() error { return user.DeleteDatabase(ctx, "ct-db", false) })
		if d.Status != api.DBReady {
			if _, err := admin.CreateApp(ctx, api.CreateAppRequest{Name: "ct-linked"}); err != nil {
				t.Fatalf("create app: %v", err)
			}
			wantErr(t, "link a database that has no address yet", api.ErrConflict, func() error {
				_, err := admin.LinkDatabase(ctx, "ct-db", "ct-linked")
				return err
			})
			admin.DeleteApp(ctx, "ct-linked")
		}
		if err := admin.DeleteDatabase(ctx, "ct-db", true); err != nil {
			t.Fatalf("delete: %v", err)
		}
		ds, _ = admin.Databases(ctx)
		if slices.ContainsFunc(ds, func(x api.Database) bool { return x.Name == "ct-db" }) {
			t.Errorf("databases after delete: %+v", ds)
		}
		wantErr(t, "create with engine oracle", api.ErrBadRequest, func() error {
			_, err := admin.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "ct-db", Engine: "oracle"})
			return err
		})
		wantErr(t, "create Bad_Name", api.ErrBadRequest, func() error {
			_, err := admin.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "Bad_Name", Engine: "redis"})
			return err
		})
		wantErr(t, "delete a missing database", api.ErrNotFound, func() error { return admin.DeleteDatabase(ctx, "ct-missing", false) })
		wantErr(t, "link a missing database", api.ErrNotFound, func() error {
			_, err := admin.LinkDatabase(ctx, "ct-missing", "ct-web")
			return err
		})
		wantErr(t, "unlink a missing database", api.ErrNotFound, func() error { return admin.UnlinkDatabase(ctx, "ct-missing", "ct-web") })
	})

	t.Run("deployed app", func(t *testing.T) {
		if env.Source == nil {
			t.Skip("no node to run apps on")
		}
		deployedApp(t, ctx, env)
	})
}

func deployedApp(t *testing.T, ctx context.Context, env Env) {
	c := env.Admin
	if _, err := c.CreateApp(ctx, api.CreateAppRequest{Name: "ct-live", AppConfig: api.AppConfig{Runtime: "static"}}); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { c.DeleteApp(context.Background(), "ct-live") })
	r, err := c.UploadSource(ctx, "ct-live", env.Source())
	if err != nil || r.Number != 1 || r.Status != api.ReleaseBuilding {
		t.Fatalf("upload = %+v, %v; want release 1 building", r, err)
	}
	a := waitRunning(t, ctx, c, "ct-live", 1, "", env.Wait)
	rels, err := c.Releases(ctx, "ct-live")
	if err != nil || len(rels) != 1 || rels[0].Status != api.ReleaseReady || !rels[0].Current {
		t.Fatalf("releases = %+v, %v; want release 1, ready and current", rels, err)
	}
	rc, err := c.Logs(ctx, "ct-live", false, 10)
	if err != nil {
		t.Fatalf("logs of a running app: %v", err)
	}
	rc.Close()

	if err := c.Restart(ctx, "ct-live"); err != nil {
		t.Fatalf("restart: %v", err)
	}
	waitRunning(t, ctx, c, "ct-live", 1, a.Instances[0].ID, env.Wait)

	wantErr(t, "rollback with no earlier release", api.ErrConflict, func() error {
		_, err := c.Rollback(ctx, "ct-live", 0)
		return err
	})
	r, err = c.Rebuild(ctx, "ct-live")
	if err != nil || r.Number != 2 {
		t.Fatalf("rebuild = %+v, %v; want release 2", r, err)
	}
	waitRunning(t, ctx, c, "ct-live", 2, "", env.Wait)
	r, err = c.Rollback(ctx, "ct-live", 0)
	if err != nil || r.Number != 3 || !strings.HasPrefix(r.Cause, "rollback to 1") {
		t.Fatalf("rollback = %+v, %v; want release 3, a rollback to 1", r, err)
	}
	waitRunning(t, ctx, c, "ct-live", 3, "", env.Wait)
	if err := c.DeleteApp(ctx, "ct-live"); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// waitRunning waits until app runs release n on healthy instances, none of
// them notID.
func waitRunning(t *testing.T, ctx context.Context, c tui.Client, app string, n int, notID string, within time.Duration) api.App {
	t.Helper()
	deadline := time.Now().Add(within)
	var last api.App
	for time.Now().Before(deadline) {
		as, err := c.Apps(ctx)
		if err != nil {
			t.Fatalf("apps: %v", err)
		}
		for _, a := range as {
			if a.Name != app {
				continue
			}
			last = a
			ok := a.Status == api.AppRunning && a.Release == n && len(a.Instances) > 0
			for _, in := range a.Instances {
				ok = ok && in.State == "healthy" && in.ID != notID && in.Release == n
			}
			if ok {
				return a
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s to run release %d on fresh healthy instances; last: %+v", within, app, n, last)
	return last
}

func appNames(t *testing.T, ctx context.Context, c tui.Client) []string {
	t.Helper()
	as, err := c.Apps(ctx)
	if err != nil {
		t.Fatalf("apps: %v", err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func wantErr(t *testing.T, what string, want error, call func() error) {
	t.Helper()
	if err := call(); !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}
