package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"gasper/api"
)

// App is an app row. Sealed fields are encrypted by the caller.
type App struct {
	Name       string
	OwnerID    string
	Config     api.AppConfig
	EnvSealed  []byte
	GitURL     string
	GitBranch  string
	GitToken   []byte // sealed
	Release    int
	Generation int
	// Replicas is how many instances should run (0: scaled down).
	Replicas int
	// Nodes holds the node id of each placed replica; a node appears once
	// per replica it runs. Fewer entries than Replicas: the rest wait.
	Nodes []string
	// Pending says why no node can take the app (or some of its replicas);
	// empty when it is placed or has not asked for a place yet.
	Pending   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const appCols = `name, owner_id, config, env_sealed, git_url, git_branch, git_token, release, generation, replicas, nodes, pending, created_at, updated_at`

func scanApp(row interface{ Scan(...any) error }) (App, error) {
	var a App
	var cfg, nodes string
	var created, updated int64
	if err := row.Scan(&a.Name, &a.OwnerID, &cfg, &a.EnvSealed, &a.GitURL, &a.GitBranch, &a.GitToken,
		&a.Release, &a.Generation, &a.Replicas, &nodes, &a.Pending, &created, &updated); err != nil {
		return App{}, err
	}
	if err := json.Unmarshal([]byte(cfg), &a.Config); err != nil {
		return App{}, fmt.Errorf("app %s: decode config: %w", a.Name, err)
	}
	if err := json.Unmarshal([]byte(nodes), &a.Nodes); err != nil {
		return App{}, fmt.Errorf("app %s: decode nodes: %w", a.Name, err)
	}
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	return a, nil
}

// CreateApp adds an app; the name must be free.
func (s *Store) CreateApp(ctx context.Context, a App) error {
	cfg, err := json.Marshal(a.Config)
	if err != nil {
		return err
	}
	t := now()
	_, err = s.db.ExecContext(ctx, `INSERT INTO apps(`+appCols+`, node_id) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)`,
		a.Name, a.OwnerID, string(cfg), a.EnvSealed, a.GitURL, a.GitBranch, a.GitToken, a.Replicas, nodesJSON(a.Nodes), a.Pending, t, t, a.FirstNode())
	if isUnique(err) {
		return api.Errorf(api.CodeConflict, "an app named %s already exists: choose another name", a.Name)
	}
	return err
}

// FirstNode is the node of the first placed replica ("" when none is):
// what the node_id column, and the API's node, keep showing.
func (a App) FirstNode() string {
	if len(a.Nodes) == 0 {
		return ""
	}
	return a.Nodes[0]
}

func nodesJSON(nodes []string) string {
	if nodes == nil {
		nodes = []string{}
	}
	b, _ := json.Marshal(nodes)
	return string(b)
}

// App returns an app by name.
func (s *Store) App(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.db.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE name = ?`, name))
	return a, notFound(err, "app "+name)
}

// Apps lists apps by name; ownerID "" lists all.
func (s *Store) Apps(ctx context.Context, ownerID string) ([]App, error) {
	q, args := `SELECT `+appCols+` FROM apps ORDER BY name`, []any{}
	if ownerID != "" {
		q, args = `SELECT `+appCols+` FROM apps WHERE owner_id = ? ORDER BY name`, []any{ownerID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []App
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateApp runs fn on the app's current row inside a transaction and
// writes back what fn left in it.
func (s *Store) UpdateApp(ctx context.Context, name string, fn func(*App) error) (App, error) {
	as, err := s.UpdateApps(ctx, []string{name}, fn, nil)
	if err != nil {
		return App{}, err
	}
	return as[0], nil
}

// UpdateApps runs fn on each named app's current row and writes back what
// fn left in it, and appends events to the audit log, all in one
// transaction: the scheduler places a pass's apps with one commit.
func (s *Store) UpdateApps(ctx context.Context, names []string, fn func(*App) error, events []Event) ([]App, error) {
	out := make([]App, 0, len(names))
	err := s.Tx(ctx, func(tx *tx) error {
		for _, name := range names {
			a, err := scanApp(tx.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE name = ?`, name))
			if err != nil {
				return notFound(err, "app "+name)
			}
			if err := fn(&a); err != nil {
				return err
			}
			cfg, err := json.Marshal(a.Config)
			if err != nil {
				return err
			}
			a.UpdatedAt = fromMS(now())
			if _, err = tx.ExecContext(ctx, `UPDATE apps SET config = ?, env_sealed = ?, git_url = ?, git_branch = ?, git_token = ?,
			release = ?, generation = ?, replicas = ?, nodes = ?, node_id = ?, pending = ?, updated_at = ? WHERE name = ?`,
				string(cfg), a.EnvSealed, a.GitURL, a.GitBranch, a.GitToken, a.Release, a.Generation, a.Replicas, nodesJSON(a.Nodes),
				a.FirstNode(), a.Pending, ms(a.UpdatedAt), name); err != nil {
				return err
			}
			out = append(out, a)
		}
		for _, e := range events {
			if err := audit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DeleteApp removes an app and its releases.
func (s *Store) DeleteApp(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM apps WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return mustAffect(res, "app "+name)
}

// Release is a release row.
type Release struct {
	api.Release
	StartCmd  string
	Port      int
	EnvSealed []byte
	BuildLog  string
	BuildMS   int64
}

const releaseCols = `app, number, status, cause, source, runtime, image, start_cmd, port, env_sealed, error, build_log, build_node, build_ms, created_at, built_at`

func scanRelease(row interface{ Scan(...any) error }) (Release, error) {
	var r Release
	var created int64
	var built sql.NullInt64
	err := row.Scan(&r.App, &r.Number, &r.Status, &r.Cause, &r.Source, &r.Runtime, &r.Image, &r.StartCmd, &r.Port,
		&r.EnvSealed, &r.Error, &r.BuildLog, &r.BuildNode, &r.BuildMS, &created, &built)
	r.CreatedAt, r.BuiltAt = fromMS(created), fromNullMS(built)
	if r.BuildMS > 0 {
		r.BuildTime = (time.Duration(r.BuildMS) * time.Millisecond).String()
	}
	return r, err
}

// CreateRelease adds the app's next release and returns it with its number.
func (s *Store) CreateRelease(ctx context.Context, r Release) (Release, error) {
	err := s.Tx(ctx, func(tx *tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM releases WHERE app = ?`, r.App).Scan(&r.Number); err != nil {
			return err
		}
		r.CreatedAt = fromMS(now())
		_, err := tx.ExecContext(ctx, `INSERT INTO releases(`+releaseCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.App, r.Number, r.Status, r.Cause, r.Source, r.Runtime, r.Image, r.StartCmd, r.Port, r.EnvSealed,
			r.Error, r.BuildLog, r.BuildNode, r.BuildMS, ms(r.CreatedAt), nullMS(r.BuiltAt))
		return err
	})
	return r, err
}

// UpdateRelease writes a release's build outcome.
func (s *Store) UpdateRelease(ctx context.Context, r Release) error {
	res, err := s.db.ExecContext(ctx, `UPDATE releases SET status = ?, source = ?, runtime = ?, image = ?, start_cmd = ?, port = ?,
		error = ?, build_log = ?, build_node = ?, build_ms = ?, built_at = ? WHERE app = ? AND number = ?`,
		r.Status, r.Source, r.Runtime, r.Image, r.StartCmd, r.Port, r.Error, r.BuildLog, r.BuildNode, r.BuildMS, nullMS(r.BuiltAt), r.App, r.Number)
	if err != nil {
		return err
	}
	return mustAffect(res, fmt.Sprintf("release %d of %s", r.Number, r.App))
}

// Release returns one release.
func (s *Store) Release(ctx context.Context, app string, number int) (Release, error) {
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE app = ? AND number = ?`, app, number))
	return r, notFound(err, fmt.Sprintf("release %d of %s", number, app))
}

// LatestRelease returns an app's newest release.
func (s *Store) LatestRelease(ctx context.Context, app string) (Release, error) {
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE app = ? ORDER BY number DESC LIMIT 1`, app))
	return r, notFound(err, "a release of "+app)
}

// NewestBuilding returns, by app, the newest release of every app whose
// newest release is still building: one read for a whole schedule pass.
func (s *Store) NewestBuilding(ctx context.Context) (map[string]Release, error) {
	return s.releasesByApp(ctx, `SELECT `+releaseCols+` FROM releases r WHERE status = ?
		AND number = (SELECT MAX(number) FROM releases WHERE app = r.app)`, api.ReleaseBuilding)
}

// NewestReleases returns every app's newest release, without its build
// log: what a list of apps shows, in one read.
func (s *Store) NewestReleases(ctx context.Context) (map[string]Release, error) {
	return s.releasesByApp(ctx, `SELECT `+strings.Replace(releaseCols, "build_log", "''", 1)+` FROM releases r
		WHERE number = (SELECT MAX(number) FROM releases WHERE app = r.app)`)
}

// releasesByApp runs a query of at most one release per app.
func (s *Store) releasesByApp(ctx context.Context, query string, args ...any) (map[string]Release, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Release{}
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out[r.App] = r
	}
	return out, rows.Err()
}

// Releases lists an app's releases, newest first.
func (s *Store) Releases(ctx context.Context, app string) ([]Release, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+releaseCols+` FROM releases WHERE app = ? ORDER BY number DESC`, app)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SourceInUse reports whether any release still refers to a source archive.
func (s *Store) SourceInUse(ctx context.Context, hash string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM releases WHERE source = ?`, hash).Scan(&n)
	return n > 0, err
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
