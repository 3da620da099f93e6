package client_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/api/client"
)

func TestAppRoutes(t *testing.T) {
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
		{"apps", 200, `[{"name":"web","status":"running"}]`,
			func(c *client.Client) (any, error) { return c.Apps(ctx) },
			request{Method: "GET", Path: "/api/v1/apps", Auth: "Bearer gsp_t"},
			[]api.App{{Name: "web", Status: "running"}}},
		{"create app", 201, `{"name":"web","status":"created"}`,
			func(c *client.Client) (any, error) {
				return c.CreateApp(ctx, api.CreateAppRequest{Name: "web", AppConfig: api.AppConfig{Runtime: "nodejs", Port: 3000},
					Env: map[string]string{"A": "1"}, Git: &api.GitSource{URL: "https://git.invalid/x.git", Branch: "main"}})
			},
			request{Method: "POST", Path: "/api/v1/apps", Auth: "Bearer gsp_t",
				Body: `{"name":"web","runtime":"nodejs","port":3000,"env":{"A":"1"},"git":{"url":"https://git.invalid/x.git","branch":"main"}}`},
			&api.App{Name: "web", Status: "created"}},
		{"app", 200, `{"name":"web","address":"127.0.0.1:30001"}`,
			func(c *client.Client) (any, error) { return c.App(ctx, "web") },
			request{Method: "GET", Path: "/api/v1/apps/web", Auth: "Bearer gsp_t"},
			&api.App{Name: "web", Address: "127.0.0.1:30001"}},
		{"update app", 202, `{"app":"web","number":4}`,
			func(c *client.Client) (any, error) {
				return c.UpdateApp(ctx, "web", api.UpdateAppRequest{AppConfig: api.AppConfig{MemoryBytes: 1 << 30}})
			},
			request{Method: "PATCH", Path: "/api/v1/apps/web", Auth: "Bearer gsp_t", Body: `{"memory_bytes":1073741824}`},
			&api.Release{App: "web", Number: 4}},
		{"delete app", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.DeleteApp(ctx, "web") },
			request{Method: "DELETE", Path: "/api/v1/apps/web", Auth: "Bearer gsp_t"}, nil},
		{"rebuild", 202, `{"number":5,"status":"building"}`,
			func(c *client.Client) (any, error) { return c.Rebuild(ctx, "web") },
			request{Method: "POST", Path: "/api/v1/apps/web/rebuild", Auth: "Bearer gsp_t"},
			&api.Release{Number: 5, Status: "building"}},
		{"releases", 200, `[{"number":2},{"number":1}]`,
			func(c *client.Client) (any, error) { return c.Releases(ctx, "web") },
			request{Method: "GET", Path: "/api/v1/apps/web/releases", Auth: "Bearer gsp_t"},
			[]api.Release{{Number: 2}, {Number: 1}}},
		{"release", 200, `{"number":2,"error":"npm failed"}`,
			func(c *client.Client) (any, error) { return c.Release(ctx, "web", 2) },
			request{Method: "GET", Path: "/api/v1/apps/web/releases/2", Auth: "Bearer gsp_t"},
			&api.Release{Number: 2, Error: "npm failed"}},
		{"build log", 200, "step 1\n==> build succeeded in 1s\n",
			func(c *client.Client) (any, error) { return read(c.BuildLog(ctx, "web", 2, false)) },
			request{Method: "GET", Path: "/api/v1/apps/web/releases/2/log", Auth: "Bearer gsp_t"},
			"step 1\n==> build succeeded in 1s\n"},
		{"build log follow", 200, "x\n",
			func(c *client.Client) (any, error) { return read(c.BuildLog(ctx, "web", 3, true)) },
			request{Method: "GET", Path: "/api/v1/apps/web/releases/3/log", Query: "follow=1", Auth: "Bearer gsp_t"}, "x\n"},
		{"rollback", 202, `{"number":6,"cause":"rollback to 4"}`,
			func(c *client.Client) (any, error) { return c.Rollback(ctx, "web", 4) },
			request{Method: "POST", Path: "/api/v1/apps/web/rollback", Auth: "Bearer gsp_t", Body: `{"release":4}`},
			&api.Release{Number: 6, Cause: "rollback to 4"}},
		{"rollback to previous", 202, `{"number":6}`,
			func(c *client.Client) (any, error) { return c.Rollback(ctx, "web", 0) },
			request{Method: "POST", Path: "/api/v1/apps/web/rollback", Auth: "Bearer gsp_t", Body: `{}`},
			&api.Release{Number: 6}},
		{"restart", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.Restart(ctx, "web") },
			request{Method: "POST", Path: "/api/v1/apps/web/restart", Auth: "Bearer gsp_t"}, nil},
		{"logs", 200, "a\nb\n",
			func(c *client.Client) (any, error) { return read(c.Logs(ctx, "web", false, 0)) },
			request{Method: "GET", Path: "/api/v1/apps/web/logs", Auth: "Bearer gsp_t"}, "a\nb\n"},
		{"logs follow tail", 200, "a\n",
			func(c *client.Client) (any, error) { return read(c.Logs(ctx, "web", true, 50)) },
			request{Method: "GET", Path: "/api/v1/apps/web/logs", Query: "follow=1&tail=50", Auth: "Bearer gsp_t"}, "a\n"},
		{"env", 200, `{"A":"1","B":""}`,
			func(c *client.Client) (any, error) { return c.Env(ctx, "web") },
			request{Method: "GET", Path: "/api/v1/apps/web/env", Auth: "Bearer gsp_t"},
			map[string]string{"A": "1", "B": ""}},
		{"set env", 202, `{"number":7,"cause":"env"}`,
			func(c *client.Client) (any, error) {
				return c.SetEnv(ctx, "web", api.EnvRequest{Set: map[string]string{"A": "2"}, Unset: []string{"B"}})
			},
			request{Method: "PATCH", Path: "/api/v1/apps/web/env", Auth: "Bearer gsp_t", Body: `{"set":{"A":"2"},"unset":["B"]}`},
			&api.Release{Number: 7, Cause: "env"}},
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

func TestAppNotFound(t *testing.T) {
	_, srv := newRecorder(t, 404, `{"error":{"code":"not_found","message":"no app \"web\""}}`)
	c := client.New(srv.URL, client.WithToken("gsp_t"))
	if _, err := c.Logs(context.Background(), "web", true, 0); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("logs: err = %v, want not found", err)
	}
	if _, err := c.UploadSource(context.Background(), "web", strings.NewReader("x")); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("upload: err = %v, want not found", err)
	}
}

// uploadMaster accepts POST .../source with one access token and records
// what it received.
type uploadMaster struct {
	mu       sync.Mutex
	access   string
	bodies   []string
	types    []string
	lengths  []int64
	attempts int
}

func (m *uploadMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/v1/auth/refresh":
		m.mu.Lock()
		m.access = "access1"
		m.mu.Unlock()
		io.WriteString(w, `{"access_token":"access1","refresh_token":"refresh1"}`)
	case "/api/v1/apps/web/source":
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.attempts++
		if r.Header.Get("Authorization") != "Bearer "+m.access {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"token expired"}}`)
			return
		}
		m.bodies = append(m.bodies, string(b))
		m.types = append(m.types, r.Header.Get("Content-Type"))
		m.lengths = append(m.lengths, r.ContentLength)
		w.WriteHeader(202)
		io.WriteString(w, `{"app":"web","number":1,"status":"building"}`)
	default:
		w.WriteHeader(404)
	}
}

func TestUploadSource(t *testing.T) {
	ctx := context.Background()
	archive := filepath.Join(t.TempDir(), "src.tar.gz")
	content := strings.Repeat("gzip bytes ", 1000)
	if err := os.WriteFile(archive, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("file with an expired session is retried once, whole", func(t *testing.T) {
		m := &uploadMaster{access: "revoked"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithSession(api.Session{AccessToken: "access0", RefreshToken: "refresh0"}, nil))
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := c.UploadSource(ctx, "web", f)
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		if r.Number != 1 || r.Status != api.ReleaseBuilding {
			t.Errorf("release = %+v", r)
		}
		if m.attempts != 2 || len(m.bodies) != 1 || m.bodies[0] != content {
			t.Fatalf("attempts %d, accepted bodies %d (first %d bytes); want 2 attempts and the whole archive once", m.attempts, len(m.bodies), len(m.bodies[0]))
		}
		if m.types[0] != "application/gzip" || m.lengths[0] != int64(len(content)) {
			t.Errorf("Content-Type %q, Content-Length %d; want application/gzip, %d", m.types[0], m.lengths[0], len(content))
		}
	})

	t.Run("a plain stream is sent chunked and not retried", func(t *testing.T) {
		m := &uploadMaster{access: "revoked"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithSession(api.Session{AccessToken: "access0", RefreshToken: "refresh0"}, nil))
		pr, pw := io.Pipe()
		go func() { io.WriteString(pw, content); pw.Close() }()
		if _, err := c.UploadSource(ctx, "web", pr); !errors.Is(err, api.ErrUnauthorized) {
			t.Fatalf("err = %v, want unauthorized", err)
		}
		if m.attempts != 1 {
			t.Errorf("attempts = %d, want 1", m.attempts)
		}
		m.access = "access0"
		pr, pw = io.Pipe()
		go func() { io.WriteString(pw, content); pw.Close() }()
		if _, err := c.UploadSource(ctx, "web", pr); err != nil {
			t.Fatalf("upload: %v", err)
		}
		if m.bodies[0] != content || m.lengths[0] != -1 {
			t.Errorf("got %d bytes with Content-Length %d, want %d chunked", len(m.bodies[0]), m.lengths[0], len(content))
		}
	})
}

// TestLogsStream checks that lines arrive while the master keeps the stream
// open, and that cancelling the context ends it.
func TestLogsStream(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first line\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := client.New(srv.URL, client.WithToken("gsp_t")).Logs(ctx, "web", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	line, err := bufio.NewReader(rc).ReadString('\n')
	if err != nil || line != "first line\n" {
		t.Fatalf("first line = %q, %v; want it before the stream ends", line, err)
	}
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
}
