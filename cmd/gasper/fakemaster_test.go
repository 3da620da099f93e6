package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gasper/api"
)

// fakeMaster implements the REST routes the CLI uses as docs (routes.md)
// say the real master does: bearer authentication with JWT-like access
// tokens or gsp_ API tokens, rotating refresh tokens, admin checks, and
// api.ErrorResponse bodies with the contract's status codes.
type fakeMaster struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	seq       int
	users     map[string]*fakeUser   // by id
	access    map[string]*fakeAccess // by access token
	refresh   map[string]string      // unspent refresh token -> user id
	apiTokens map[string]*fakeAPIToken
	nodes     []api.Node
	refreshes int

	apps fakeApps
}

type fakeUser struct {
	api.User
	password string
}

type fakeAccess struct {
	userID  string
	expires time.Time
	refresh string
}

type fakeAPIToken struct {
	api.APIToken
	userID, secret string
}

func newFakeMaster(t *testing.T) *fakeMaster {
	t.Helper()
	m := &fakeMaster{
		t:         t,
		users:     map[string]*fakeUser{},
		access:    map[string]*fakeAccess{},
		refresh:   map[string]string{},
		apiTokens: map[string]*fakeAPIToken{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Health{Status: "ok", Version: "fake", ProtoVersion: 1})
	})
	mux.HandleFunc("POST /api/v1/auth/login", m.login)
	mux.HandleFunc("POST /api/v1/auth/refresh", m.refreshSession)
	mux.HandleFunc("POST /api/v1/auth/logout", m.authed(false, m.logout))
	mux.HandleFunc("GET /api/v1/whoami", m.authed(false, func(w http.ResponseWriter, r *http.Request, u *fakeUser) {
		writeJSON(w, 200, u.User)
	}))
	mux.HandleFunc("GET /api/v1/users", m.authed(true, func(w http.ResponseWriter, r *http.Request, u *fakeUser) {
		out := []api.User{}
		for _, u := range m.users {
			out = append(out, u.User)
		}
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("POST /api/v1/users", m.authed(true, func(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
		var req api.CreateUserRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Email == "" || req.Password == "" {
			writeErr(w, api.Errorf(api.CodeBadRequest, "email and password are required"))
			return
		}
		if m.userLocked(req.Email) != nil {
			writeErr(w, api.Errorf(api.CodeConflict, "user %q exists", req.Email))
			return
		}
		writeJSON(w, 201, m.addUserLocked(req.Email, req.Password, req.Admin).User)
	}))
	mux.HandleFunc("DELETE /api/v1/users/{user}", m.authed(true, func(w http.ResponseWriter, r *http.Request, me *fakeUser) {
		u := m.userLocked(r.PathValue("user"))
		switch {
		case u == nil:
			writeErr(w, api.Errorf(api.CodeNotFound, "no user %q", r.PathValue("user")))
		case u.ID == me.ID:
			writeErr(w, api.Errorf(api.CodeBadRequest, "you cannot delete yourself"))
		default:
			delete(m.users, u.ID)
			w.WriteHeader(204)
		}
	}))
	mux.HandleFunc("POST /api/v1/tokens", m.authed(false, func(w http.ResponseWriter, r *http.Request, me *fakeUser) {
		var req api.CreateAPITokenRequest
		json.NewDecoder(r.Body).Decode(&req)
		m.seq++
		tok := &fakeAPIToken{APIToken: api.APIToken{ID: fmt.Sprintf("tok%d", m.seq), Name: req.Name, CreatedAt: time.Now()},
			userID: me.ID, secret: fmt.Sprintf("gsp_secret%d", m.seq)}
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil {
				writeErr(w, api.Errorf(api.CodeBadRequest, "bad ttl"))
				return
			}
			exp := time.Now().Add(d)
			tok.ExpiresAt = &exp
		}
		m.apiTokens[tok.secret] = tok
		writeJSON(w, 201, api.CreatedAPIToken{APIToken: tok.APIToken, Token: tok.secret})
	}))
	mux.HandleFunc("GET /api/v1/nodes", m.authed(true, func(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
		writeJSON(w, 200, append([]api.Node{}, m.nodes...))
	}))
	mux.HandleFunc("GET /api/v1/nodes/{node}", m.authed(true, func(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
		for _, n := range m.nodes {
			if n.ID == r.PathValue("node") || n.Hostname == r.PathValue("node") {
				writeJSON(w, 200, n)
				return
			}
		}
		writeErr(w, api.Errorf(api.CodeNotFound, "no node %q", r.PathValue("node")))
	}))
	mux.HandleFunc("DELETE /api/v1/nodes/{node}", m.authed(true, func(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
		for i, n := range m.nodes {
			if n.ID == r.PathValue("node") || n.Hostname == r.PathValue("node") {
				m.nodes = append(m.nodes[:i], m.nodes[i+1:]...)
				w.WriteHeader(204)
				return
			}
		}
		writeErr(w, api.Errorf(api.CodeNotFound, "no node %q", r.PathValue("node")))
	}))
	mux.HandleFunc("POST /api/v1/nodes/tokens", m.authed(true, func(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
		var req api.CreateJoinTokenRequest
		json.NewDecoder(r.Body).Decode(&req)
		d := 10 * time.Minute
		if req.TTL != "" {
			var err error
			if d, err = time.ParseDuration(req.TTL); err != nil {
				writeErr(w, api.Errorf(api.CodeBadRequest, "bad ttl %q", req.TTL))
				return
			}
		}
		m.seq++
		writeJSON(w, 201, api.JoinToken{ID: "jt" + strconv.Itoa(m.seq), Token: "gjt_" + strconv.Itoa(m.seq) + "_secret",
			ExpiresAt: time.Now().Add(d), TunnelAddr: "127.0.0.1:7443"})
	}))
	m.appRoutes(mux)
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

// URL is the fake master's base URL.
func (m *fakeMaster) URL() string { return m.srv.URL }

// addUser creates a user and returns it.
func (m *fakeMaster) addUser(email, password string, admin bool) *fakeUser {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addUserLocked(email, password, admin)
}

func (m *fakeMaster) addUserLocked(email, password string, admin bool) *fakeUser {
	m.seq++
	u := &fakeUser{User: api.User{ID: "u" + strconv.Itoa(m.seq), Email: email, Admin: admin,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, password: password}
	m.users[u.ID] = u
	return u
}

func (m *fakeMaster) userLocked(idOrEmail string) *fakeUser {
	for _, u := range m.users {
		if u.ID == idOrEmail || u.Email == idOrEmail {
			return u
		}
	}
	return nil
}

// session opens a session for the user as login would, its access token
// expiring after ttl (negative: already expired).
func (m *fakeMaster) session(email string, ttl time.Duration) api.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessionLocked(m.userLocked(email), ttl)
}

func (m *fakeMaster) sessionLocked(u *fakeUser, ttl time.Duration) api.Session {
	m.seq++
	s := api.Session{
		AccessToken:      fmt.Sprintf("jwt.%d.%s", m.seq, u.ID),
		AccessExpiresAt:  time.Now().Add(ttl),
		RefreshToken:     fmt.Sprintf("refresh.%d", m.seq),
		RefreshExpiresAt: time.Now().Add(24 * time.Hour),
		User:             u.User,
	}
	m.access[s.AccessToken] = &fakeAccess{userID: u.ID, expires: s.AccessExpiresAt, refresh: s.RefreshToken}
	m.refresh[s.RefreshToken] = u.ID
	return s
}

// apiToken gives the user an API token and returns its secret.
func (m *fakeMaster) apiToken(email string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	secret := fmt.Sprintf("gsp_%d", m.seq)
	m.apiTokens[secret] = &fakeAPIToken{APIToken: api.APIToken{ID: "tok" + strconv.Itoa(m.seq)}, userID: m.userLocked(email).ID, secret: secret}
	return secret
}

func (m *fakeMaster) login(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, api.Errorf(api.CodeBadRequest, "bad body"))
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.userLocked(req.Email)
	if u == nil || u.password != req.Password {
		writeErr(w, api.Errorf(api.CodeUnauthorized, "invalid email or password"))
		return
	}
	writeJSON(w, 200, m.sessionLocked(u, time.Hour))
}

func (m *fakeMaster) refreshSession(w http.ResponseWriter, r *http.Request) {
	var req api.RefreshRequest
	json.NewDecoder(r.Body).Decode(&req)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshes++
	uid, ok := m.refresh[req.RefreshToken]
	if !ok {
		writeErr(w, api.Errorf(api.CodeUnauthorized, "invalid refresh token"))
		return
	}
	delete(m.refresh, req.RefreshToken) // refresh tokens rotate
	writeJSON(w, 200, m.sessionLocked(m.users[uid], time.Hour))
}

func (m *fakeMaster) logout(w http.ResponseWriter, r *http.Request, _ *fakeUser) {
	tok := bearer(r)
	if a, ok := m.access[tok]; ok {
		delete(m.refresh, a.refresh)
		delete(m.access, tok)
	}
	w.WriteHeader(204)
}

// authed checks the bearer token (and admin rights when admin is set) and
// calls h with the caller, holding m.mu.
func (m *fakeMaster) authed(admin bool, h func(http.ResponseWriter, *http.Request, *fakeUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		u := m.callerLocked(r)
		if u == nil {
			writeErr(w, api.Errorf(api.CodeUnauthorized, "invalid or expired token"))
			return
		}
		if admin && !u.Admin {
			writeErr(w, api.Errorf(api.CodeForbidden, "admin rights required"))
			return
		}
		h(w, r, u)
	}
}

// callerLocked returns the user r's bearer token authenticates, or nil.
func (m *fakeMaster) callerLocked(r *http.Request) *fakeUser {
	tok := bearer(r)
	if strings.HasPrefix(tok, "gsp_") {
		if at, ok := m.apiTokens[tok]; ok && (at.ExpiresAt == nil || time.Now().Before(*at.ExpiresAt)) {
			return m.users[at.userID]
		}
	} else if a, ok := m.access[tok]; ok && time.Now().Before(a.expires) {
		return m.users[a.userID]
	}
	return nil
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.Status(), api.ErrorResponse{Error: *e})
}
