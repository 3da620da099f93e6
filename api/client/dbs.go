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

// Databases lists the caller's databases (admins: every database).
func (c *Client) Databases(ctx context.Context) ([]api.Database, error) {
	var ds []api.Database
	if err := c.do(ctx, http.MethodGet, "/databases", nil, &ds, true); err != nil {
		return nil, err
	}
	return ds, nil
}

// CreateDatabase creates a database; the answer holds its password, shown once.
func (c *Client) CreateDatabase(ctx context.Context, req api.CreateDatabaseRequest) (*api.Database, error) {
	var d api.Database
	if err := c.do(ctx, http.MethodPost, "/databases", req, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// Database returns one database; showPassword adds its password and the URL with it.
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

// DeleteDatabase deletes a database and its data; withBackups deletes its backups too.
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

// DatabaseLogs streams a database server's logs; the caller closes the reader.
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

// LinkDatabase gives app the database's URL and rolls the app out.
func (c *Client) LinkDatabase(ctx context.Context, name, app string) (*api.Database, error) {
	var d api.Database
	if err := c.do(ctx, http.MethodPost, dbPath(name, "links"), api.LinkRequest{App: app}, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// UnlinkDatabase takes the database's variables from app.
func (c *Client) UnlinkDatabase(ctx context.Context, name, app string) error {
	return c.do(ctx, http.MethodDelete, dbPath(name, "links", url.PathEscape(app)), nil, nil, true)
}

// BackupDatabase takes a backup, stored on the master.
func (c *Client) BackupDatabase(ctx context.Context, name string) (*api.Backup, error) {
	var b api.Backup
	if err := c.do(ctx, http.MethodPost, dbPath(name, "backups"), nil, &b, true); err != nil {
		return nil, err
	}
	return &b, nil
}

// Backups lists a database's backups, newest first.
func (c *Client) Backups(ctx context.Context, name string) ([]api.Backup, error) {
	var bs []api.Backup
	if err := c.do(ctx, http.MethodGet, dbPath(name, "backups"), nil, &bs, true); err != nil {
		return nil, err
	}
	return bs, nil
}

// RestoreDatabase loads a backup into a database, replacing its data.
func (c *Client) RestoreDatabase(ctx context.Context, name, backupID string) error {
	return c.do(ctx, http.MethodPost, dbPath(name, "restore"), api.RestoreRequest{Backup: backupID}, nil, true)
}

// DownloadBackup streams a backup's dump; the caller closes the reader.
func (c *Client) DownloadBackup(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.doStream(ctx, http.MethodGet, "/backups/"+url.PathEscape(id)+"/download", nil, "", "application/octet-stream")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
