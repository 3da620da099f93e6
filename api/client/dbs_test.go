package client_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/api/client"
)

// TestDatabaseRoutes pins each database call to the route, query and body
// the master serves (docs/api.md).
func TestDatabaseRoutes(t *testing.T) {
	ctx := context.Background()
	read := func(rc io.ReadCloser, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	tests := []struct {
		name   string
		status int
		answer string
		call   func(c *client.Client) (any, error)
		want   request
		wantV  any
	}{
		{"list", 200, `[{"name":"pg","engine":"postgresql","status":"ready"}]`,
			func(c *client.Client) (any, error) { return c.Databases(ctx) },
			request{Method: "GET", Path: "/api/v1/databases", Auth: "Bearer gsp_t"},
			[]api.Database{{Name: "pg", Engine: "postgresql", Status: "ready"}}},
		{"create", 201, `{"name":"pg","engine":"postgresql","password":"pw"}`,
			func(c *client.Client) (any, error) {
				return c.CreateDatabase(ctx, api.CreateDatabaseRequest{Name: "pg", Engine: "postgresql", MemoryBytes: 256 << 20})
			},
			request{Method: "POST", Path: "/api/v1/databases", Auth: "Bearer gsp_t", Body: `{"name":"pg","engine":"postgresql","memory_bytes":268435456}`},
			&api.Database{Name: "pg", Engine: "postgresql", Password: "pw"}},
		{"get", 200, `{"name":"pg"}`,
			func(c *client.Client) (any, error) { return c.Database(ctx, "pg", false) },
			request{Method: "GET", Path: "/api/v1/databases/pg", Auth: "Bearer gsp_t"},
			&api.Database{Name: "pg"}},
		{"get with password", 200, `{"name":"pg","password":"pw"}`,
			func(c *client.Client) (any, error) { return c.Database(ctx, "pg", true) },
			request{Method: "GET", Path: "/api/v1/databases/pg", Query: "show_password=1", Auth: "Bearer gsp_t"},
			&api.Database{Name: "pg", Password: "pw"}},
		{"delete", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.DeleteDatabase(ctx, "pg", false) },
			request{Method: "DELETE", Path: "/api/v1/databases/pg", Auth: "Bearer gsp_t"}, nil},
		{"delete with backups", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.DeleteDatabase(ctx, "pg", true) },
			request{Method: "DELETE", Path: "/api/v1/databases/pg", Query: "with_backups=1", Auth: "Bearer gsp_t"}, nil},
		{"restart", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.RestartDatabase(ctx, "pg") },
			request{Method: "POST", Path: "/api/v1/databases/pg/restart", Auth: "Bearer gsp_t"}, nil},
		{"logs", 200, "ready\n",
			func(c *client.Client) (any, error) { return read(c.DatabaseLogs(ctx, "pg", false, 0)) },
			request{Method: "GET", Path: "/api/v1/databases/pg/logs", Auth: "Bearer gsp_t"}, "ready\n"},
		{"logs follow tail", 200, "x\n",
			func(c *client.Client) (any, error) { return read(c.DatabaseLogs(ctx, "pg", true, 20)) },
			request{Method: "GET", Path: "/api/v1/databases/pg/logs", Query: "follow=1&tail=20", Auth: "Bearer gsp_t"}, "x\n"},
		{"link", 201, `{"name":"pg","links":["web"]}`,
			func(c *client.Client) (any, error) { return c.LinkDatabase(ctx, "pg", "web") },
			request{Method: "POST", Path: "/api/v1/databases/pg/links", Auth: "Bearer gsp_t", Body: `{"app":"web"}`},
			&api.Database{Name: "pg", Links: []string{"web"}}},
		{"unlink", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.UnlinkDatabase(ctx, "pg", "web") },
			request{Method: "DELETE", Path: "/api/v1/databases/pg/links/web", Auth: "Bearer gsp_t"}, nil},
		{"backup", 201, `{"id":"b1","database":"pg","size":42}`,
			func(c *client.Client) (any, error) { return c.BackupDatabase(ctx, "pg") },
			request{Method: "POST", Path: "/api/v1/databases/pg/backups", Auth: "Bearer gsp_t"},
			&api.Backup{ID: "b1", Database: "pg", Size: 42}},
		{"backups", 200, `[{"id":"b2"},{"id":"b1"}]`,
			func(c *client.Client) (any, error) { return c.Backups(ctx, "pg") },
			request{Method: "GET", Path: "/api/v1/databases/pg/backups", Auth: "Bearer gsp_t"},
			[]api.Backup{{ID: "b2"}, {ID: "b1"}}},
		{"download", 200, "gzip bytes",
			func(c *client.Client) (any, error) { return read(c.DownloadBackup(ctx, "b1")) },
			request{Method: "GET", Path: "/api/v1/backups/b1/download", Auth: "Bearer gsp_t"}, "gzip bytes"},
		{"restore", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.RestoreDatabase(ctx, "pg", "b1") },
			request{Method: "POST", Path: "/api/v1/databases/pg/restore", Auth: "Bearer gsp_t", Body: `{"backup":"b1"}`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorder(t, tt.status, tt.answer)
			c := client.New(srv.URL, client.WithToken("gsp_t"))
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(rec.reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(rec.reqs))
			}
			if diff := cmp.Diff(tt.want, rec.reqs[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			if tt.wantV != nil {
				if diff := cmp.Diff(tt.wantV, got); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestDatabaseErrors(t *testing.T) {
	_, srv := newRecorder(t, 404, `{"error":{"code":"not_found","message":"no database \"pg\""}}`)
	c := client.New(srv.URL, client.WithToken("gsp_t"))
	ctx := context.Background()
	if _, err := c.Database(ctx, "pg", false); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("get: err = %v, want not found", err)
	}
	if _, err := c.DatabaseLogs(ctx, "pg", true, 0); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("logs: err = %v, want not found", err)
	}
	if _, err := c.DownloadBackup(ctx, "b1"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("download: err = %v, want not found", err)
	}
}
