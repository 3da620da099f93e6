package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"gasper/api"
)

// dbPath is the route of database name, with anything after it.
func dbPath(name string, rest ...string) string {
	p := "/databases/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// ListDatabases lists the caller's databases (admins: every database).
func (c *Client) ListDatabases(ctx context.Context) ([]api.Database, error) {
	var ds []api.Database
	if err := c.do(ctx, http.MethodGet, "/databases", nil, &ds, true); err != nil {
		return nil, err
	}
	return ds, nil
}

// CreateDatabase creates a database. The answer holds its password, which
// the master shows again only when asked (Database with showPassword).
func (c *Client) CreateDatabase(ctx context.Context, req api.CreateDatabaseRequest) (*api.Database, error) {
	var d api.Database
	if err := c.do(ctx, http.MethodPost, "/databases", req, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// Database returns one database by name; with showPassword its password
// and a URL holding it are included (owner only). Another user's database
// is not found.
func (c *Client) Database(ctx context.Context, name string, showPassword bool) (*api.Database, error) {
	path := dbPath(name)
	if showPassword {
		path += "?show_password=1"
	}
	var d api.Database
	if err := c.do(ctx, http.MethodGet, path, nil, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// DeleteDatabase deletes a database with its server and data; with
// withBackups its backups go too, else they stay restorable.
func (c *Client) DeleteDatabase(ctx context.Context, name string, withBackups bool) error {
	path := dbPath(name)
	if withBackups {
		path += "?with_backups=1"
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true)
}

// RestartDatabase restarts a database's server.
func (c *Client) RestartDatabase(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, dbPath(name, "restart"), nil, nil, true)
}

// DatabaseLogs returns a database server's logs as text, starting tail
// lines back (0: the master's default). With follow, the stream stays open
// for new lines until ctx ends or the master closes it. The caller closes
// it.
func (c *Client) DatabaseLogs(ctx context.Context, name string, follow bool, tail int) (io.ReadCloser, error) {
	q := url.Values{}
	if follow {
		q.Set("follow", "1")
	}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	path := dbPath(name, "logs")
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.doStream(ctx, http.MethodGet, path, nil, "", "text/plain")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// LinkDatabase gives app the database's URL (as an environment variable,
// rolled out with a new release) and returns the database.
func (c *Client) LinkDatabase(ctx context.Context, db, app string) (*api.Database, error) {
	var d api.Database
	if err := c.do(ctx, http.MethodPost, dbPath(db, "links"), api.LinkRequest{App: app}, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// UnlinkDatabase takes the database's URL away from app.
func (c *Client) UnlinkDatabase(ctx context.Context, db, app string) error {
	return c.do(ctx, http.MethodDelete, dbPath(db, "links", url.PathEscape(app)), nil, nil, true)
}

// CreateBackup dumps a database and returns the backup the master stored.
func (c *Client) CreateBackup(ctx context.Context, db string) (*api.Backup, error) {
	var b api.Backup
	if err := c.do(ctx, http.MethodPost, dbPath(db, "backups"), nil, &b, true); err != nil {
		return nil, err
	}
	return &b, nil
}

// Backups lists a database's backups.
func (c *Client) Backups(ctx context.Context, db string) ([]api.Backup, error) {
	var bs []api.Backup
	if err := c.do(ctx, http.MethodGet, dbPath(db, "backups"), nil, &bs, true); err != nil {
		return nil, err
	}
	return bs, nil
}

// DownloadBackup returns a backup's gzip'd dump as it streams from the
// master; only ctx bounds how long it is read. The caller closes it.
func (c *Client) DownloadBackup(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.doStream(ctx, http.MethodGet, "/backups/"+url.PathEscape(id)+"/download", nil, "", "application/gzip")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RestoreDatabase loads a backup of the same engine into the database,
// replacing its data.
func (c *Client) RestoreDatabase(ctx context.Context, db, backup string) error {
	return c.do(ctx, http.MethodPost, dbPath(db, "restore"), api.RestoreRequest{Backup: backup}, nil, true)
}
