package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/api/client"
)

// request is what the recording server saw.
type request struct {
	Method, Path, Query, Auth, Body string
}

// recorder answers every request with status and body, and records it.
type recorder struct {
	mu     sync.Mutex
	reqs   []request
	status int
	body   string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Get("Authorization"), string(b)})
	status, body := r.status, r.body
	r.mu.Unlock()
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func newRecorder(t *testing.T, status int, body string) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{status: status, body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func TestRoutes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		answer string
		call   func(c *client.Client) (any, error)
		want   request
		wantV  any
	}{
		{"health", 200, `{"status":"ok","version":"v1","proto_version":3}`,
			func(c *client.Client) (any, error) { return c.Health(ctx) },
			request{Method: "GET", Path: "/api/v1/health"},
			&api.Health{Status: "ok", Version: "v1", ProtoVersion: 3}},
		{"login", 200, `{"access_token":"a","refresh_token":"r","user":{"email":"e@x"}}`,
			func(c *client.Client) (any, error) { return c.Login(ctx, "e@x", "pw") },
			request{Method: "POST", Path: "/api/v1/auth/login", Body: `{"email":"e@x","password":"pw"}`},
			&api.Session{AccessToken: "a", RefreshToken: "r", User: api.User{Email: "e@x"}}},
		{"refresh", 200, `{"access_token":"a2","refresh_token":"r2"}`,
			func(c *client.Client) (any, error) { return c.Refresh(ctx, "r1") },
			request{Method: "POST", Path: "/api/v1/auth/refresh", Body: `{"refresh_token":"r1"}`},
			&api.Session{AccessToken: "a2", RefreshToken: "r2"}},
		{"logout", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.Logout(ctx) },
			request{Method: "POST", Path: "/api/v1/auth/logout", Auth: "Bearer gsp_t"}, nil},
		{"whoami", 200, `{"id":"u1","email":"e@x","admin":true}`,
			func(c *client.Client) (any, error) { return c.WhoAmI(ctx) },
			request{Method: "GET", Path: "/api/v1/whoami", Auth: "Bearer gsp_t"},
			&api.User{ID: "u1", Email: "e@x", Admin: true}},
		{"users", 200, `[{"id":"u1"},{"id":"u2"}]`,
			func(c *client.Client) (any, error) { return c.Users(ctx) },
			request{Method: "GET", Path: "/api/v1/users", Auth: "Bearer gsp_t"},
			[]api.User{{ID: "u1"}, {ID: "u2"}}},
		{"create user", 201, `{"id":"u3","email":"n@x"}`,
			func(c *client.Client) (any, error) {
				return c.CreateUser(ctx, api.CreateUserRequest{Email: "n@x", Password: "pw", Admin: true})
			},
			request{Method: "POST", Path: "/api/v1/users", Auth: "Bearer gsp_t", Body: `{"email":"n@x","password":"pw","admin":true}`},
			&api.User{ID: "u3", Email: "n@x"}},
		{"user by email", 200, `{"id":"u3","email":"n@x"}`,
			func(c *client.Client) (any, error) { return c.User(ctx, "n@x") },
			request{Method: "GET", Path: "/api/v1/users/n@x", Auth: "Bearer gsp_t"},
			&api.User{ID: "u3", Email: "n@x"}},
		{"delete user", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.DeleteUser(ctx, "u3") },
			request{Method: "DELETE", Path: "/api/v1/users/u3", Auth: "Bearer gsp_t"}, nil},
		{"grant admin", 200, `{"id":"u3","admin":true}`,
			func(c *client.Client) (any, error) { return c.GrantAdmin(ctx, "u3") },
			request{Method: "PUT", Path: "/api/v1/users/u3/admin", Auth: "Bearer gsp_t"},
			&api.User{ID: "u3", Admin: true}},
		{"revoke admin", 200, `{"id":"u3"}`,
			func(c *client.Client) (any, error) { return c.RevokeAdmin(ctx, "u3") },
			request{Method: "DELETE", Path: "/api/v1/users/u3/admin", Auth: "Bearer gsp_t"},
			&api.User{ID: "u3"}},
		{"api tokens", 200, `[{"id":"t1","name":"ci"}]`,
			func(c *client.Client) (any, error) { return c.APITokens(ctx) },
			request{Method: "GET", Path: "/api/v1/tokens", Auth: "Bearer gsp_t"},
			[]api.APIToken{{ID: "t1", Name: "ci"}}},
		{"create api token", 201, `{"id":"t2","name":"ci","token":"gsp_secret"}`,
			func(c *client.Client) (any, error) {
				return c.CreateAPIToken(ctx, api.CreateAPITokenRequest{Name: "ci", TTL: "720h"})
			},
			request{Method: "POST", Path: "/api/v1/tokens", Auth: "Bearer gsp_t", Body: `{"name":"ci","ttl":"720h"}`},
			&api.CreatedAPIToken{APIToken: api.APIToken{ID: "t2", Name: "ci"}, Token: "gsp_secret"}},
		{"revoke api token", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.RevokeAPIToken(ctx, "t2") },
			request{Method: "DELETE", Path: "/api/v1/tokens/t2", Auth: "Bearer gsp_t"}, nil},
		{"nodes", 200, `[{"id":"n1","roles":["app"]}]`,
			func(c *client.Client) (any, error) { return c.Nodes(ctx) },
			request{Method: "GET", Path: "/api/v1/nodes", Auth: "Bearer gsp_t"},
			[]api.Node{{ID: "n1", Roles: []string{"app"}}}},
		{"node", 200, `{"id":"n1","hostname":"h1"}`,
			func(c *client.Client) (any, error) { return c.Node(ctx, "h1") },
			request{Method: "GET", Path: "/api/v1/nodes/h1", Auth: "Bearer gsp_t"},
			&api.Node{ID: "n1", Hostname: "h1"}},
		{"remove node", 204, ``,
			func(c *client.Client) (any, error) { return nil, c.RemoveNode(ctx, "n1") },
			request{Method: "DELETE", Path: "/api/v1/nodes/n1", Auth: "Bearer gsp_t"}, nil},
		{"join token", 201, `{"id":"j1","token":"jt","tunnel_addr":"127.0.0.1:7443"}`,
			func(c *client.Client) (any, error) {
				return c.CreateJoinToken(ctx, api.CreateJoinTokenRequest{TTL: "1h"})
			},
			request{Method: "POST", Path: "/api/v1/nodes/tokens", Auth: "Bearer gsp_t", Body: `{"ttl":"1h"}`},
			&api.JoinToken{ID: "j1", Token: "jt", TunnelAddr: "127.0.0.1:7443"}},
		{"audit", 200, `[{"id":2,"action":"user.create"}]`,
			func(c *client.Client) (any, error) { return c.Audit(ctx, 10) },
			request{Method: "GET", Path: "/api/v1/audit", Query: "limit=10", Auth: "Bearer gsp_t"},
			[]api.AuditEvent{{ID: 2, Action: "user.create"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorder(t, tt.status, tt.answer)
			c := client.New(srv.URL+"/", client.WithToken("gsp_t"))
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

func TestErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		wantIs      error
		wantCode    string
		wantMessage string // substring
	}{
		{"json forbidden", 403, `{"error":{"code":"forbidden","message":"admin only"}}`, api.ErrForbidden, api.CodeForbidden, "admin only"},
		{"json not found", 404, `{"error":{"code":"not_found","message":"no node \"x\""}}`, api.ErrNotFound, api.CodeNotFound, `no node "x"`},
		{"json conflict", 409, `{"error":{"code":"conflict","message":"last admin"}}`, api.ErrConflict, api.CodeConflict, "last admin"},
		{"proxy html 502", 502, `<html>Bad Gateway</html>`, api.ErrInternal, api.CodeInternal, "502 Bad Gateway"},
		{"proxy 503 empty", 503, ``, api.ErrUnavailable, api.CodeUnavailable, "503"},
		{"proxy 401 text", 401, `denied`, api.ErrUnauthorized, api.CodeUnauthorized, "401 Unauthorized: denied"},
		{"json without code", 404, `{"message":"nope"}`, api.ErrNotFound, api.CodeNotFound, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newRecorder(t, tt.status, tt.body)
			_, err := client.New(srv.URL, client.WithToken("gsp_t")).Nodes(context.Background())
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %T, want *api.Error", err)
			}
			if ae.Code != tt.wantCode || !strings.Contains(ae.Message, tt.wantMessage) {
				t.Errorf("got code %q message %q, want code %q message containing %q", ae.Code, ae.Message, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	// A port that was listening a moment ago is almost surely refused now.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = client.New(addr).Health(context.Background())
	var ue *client.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v (%T), want *UnreachableError", err, err)
	}
	if want := "http://" + addr; ue.URL != want || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestCanceledContextIsNotUnreachable(t *testing.T) {
	_, srv := newRecorder(t, 200, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := client.New(srv.URL).Health(ctx)
	var ue *client.UnreachableError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
		t.Fatalf("err = %v, want context.Canceled and not unreachable", err)
	}
}

// sessionMaster is a master that knows one valid access token at a time and
// rotates refresh tokens, as the real one does.
type sessionMaster struct {
	mu        sync.Mutex
	access    string // the one valid access token
	refresh   string // the one unspent refresh token
	gen       int
	refreshes atomic.Int32
	gate      chan struct{} // when set, whoami waits on it before answering
}

func (m *sessionMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeErr := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: code, Message: msg}})
	}
	switch r.URL.Path {
	case "/api/v1/auth/refresh":
		m.refreshes.Add(1)
		var req api.RefreshRequest
		json.NewDecoder(r.Body).Decode(&req)
		m.mu.Lock()
		defer m.mu.Unlock()
		if req.RefreshToken != m.refresh {
			writeErr(401, api.CodeUnauthorized, "invalid refresh token")
			return
		}
		m.gen++
		m.access = "access" + string(rune('0'+m.gen))
		m.refresh = "refresh" + string(rune('0'+m.gen))
		json.NewEncoder(w).Encode(api.Session{
			AccessToken: m.access, AccessExpiresAt: time.Now().Add(time.Hour),
			RefreshToken: m.refresh, RefreshExpiresAt: time.Now().Add(24 * time.Hour),
		})
	case "/api/v1/whoami":
		if m.gate != nil {
			<-m.gate
		}
		m.mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+m.access
		m.mu.Unlock()
		if !ok {
			writeErr(401, api.CodeUnauthorized, "token expired")
			return
		}
		json.NewEncoder(w).Encode(api.User{Email: "e@x"})
	default:
		writeErr(404, api.CodeNotFound, "no route")
	}
}

func TestSessionRefresh(t *testing.T) {
	ctx := context.Background()
	t.Run("401 refreshes once and retries", func(t *testing.T) {
		m := &sessionMaster{access: "access0", refresh: "refresh0"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		m.access = "revoked-by-clock" // the client's access0 is no longer accepted

		var saved []api.Session
		c := client.New(srv.URL, client.WithSession(api.Session{AccessToken: "access0", RefreshToken: "refresh0"},
			func(s api.Session) error { saved = append(saved, s); return nil }))
		u, err := c.WhoAmI(ctx)
		if err != nil {
			t.Fatalf("whoami: %v", err)
		}
		if u.Email != "e@x" {
			t.Errorf("email = %q", u.Email)
		}
		if len(saved) != 1 || saved[0].AccessToken != "access1" || saved[0].RefreshToken != "refresh1" {
			t.Errorf("saved sessions = %+v, want one with access1/refresh1", saved)
		}
		if s, _ := c.Session(); s.RefreshToken != "refresh1" {
			t.Errorf("client session refresh token = %q, want refresh1", s.RefreshToken)
		}
		// The new pair keeps working without another refresh.
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatalf("second whoami: %v", err)
		}
		if n := m.refreshes.Load(); n != 1 {
			t.Errorf("refreshes = %d, want 1", n)
		}
	})

	t.Run("expired by the clock refreshes before sending", func(t *testing.T) {
		m := &sessionMaster{access: "nothing-valid", refresh: "refresh0"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		var seen atomic.Int32
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("Authorization") == "Bearer access0" {
				seen.Add(1)
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
		c := client.New(srv.URL, client.WithHTTPClient(hc), client.WithSession(api.Session{
			AccessToken: "access0", AccessExpiresAt: time.Now().Add(-time.Minute), RefreshToken: "refresh0",
		}, nil))
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatalf("whoami: %v", err)
		}
		if seen.Load() != 0 {
			t.Errorf("the expired access token was sent %d times, want 0", seen.Load())
		}
	})

	t.Run("spent refresh token gives the original 401", func(t *testing.T) {
		m := &sessionMaster{access: "other", refresh: "other-refresh"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithSession(api.Session{AccessToken: "access0", RefreshToken: "refresh0"}, nil))
		_, err := c.WhoAmI(ctx)
		if !errors.Is(err, api.ErrUnauthorized) || !strings.Contains(err.Error(), "token expired") {
			t.Fatalf("err = %v, want the whoami 401", err)
		}
		if n := m.refreshes.Load(); n != 1 {
			t.Errorf("refreshes = %d, want exactly 1 attempt", n)
		}
	})

	t.Run("expired by the clock with a spent refresh token tries once", func(t *testing.T) {
		m := &sessionMaster{access: "other", refresh: "other-refresh"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithSession(api.Session{
			AccessToken: "access0", AccessExpiresAt: time.Now().Add(-time.Minute), RefreshToken: "refresh0",
		}, nil))
		if _, err := c.WhoAmI(ctx); !errors.Is(err, api.ErrUnauthorized) {
			t.Fatalf("err = %v, want unauthorized", err)
		}
		if n := m.refreshes.Load(); n != 1 {
			t.Errorf("refreshes = %d, want 1", n)
		}
	})

	t.Run("api tokens are never refreshed", func(t *testing.T) {
		m := &sessionMaster{access: "other", refresh: "refresh0"}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithToken("gsp_revoked"))
		if _, err := c.WhoAmI(ctx); !errors.Is(err, api.ErrUnauthorized) {
			t.Fatalf("err = %v, want unauthorized", err)
		}
		if n := m.refreshes.Load(); n != 0 {
			t.Errorf("refreshes = %d, want 0", n)
		}
	})

	t.Run("concurrent 401s spend the refresh token once", func(t *testing.T) {
		m := &sessionMaster{access: "other", refresh: "refresh0", gate: make(chan struct{})}
		srv := httptest.NewServer(m)
		t.Cleanup(srv.Close)
		c := client.New(srv.URL, client.WithSession(api.Session{AccessToken: "access0", RefreshToken: "refresh0"}, nil))
		const n = 4
		errs := make(chan error, n)
		for range n {
			go func() { _, err := c.WhoAmI(ctx); errs <- err }()
		}
		// Let all n requests reach the master before any is answered, so
		// they all fail with the old token together.
		for range n {
			m.gate <- struct{}{}
		}
		close(m.gate)
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("whoami: %v", err)
			}
		}
		if got := m.refreshes.Load(); got != 1 {
			t.Errorf("refreshes = %d, want 1", got)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
