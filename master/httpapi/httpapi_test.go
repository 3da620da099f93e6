package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"gasper/api"
	"gasper/internal/archive"
	"gasper/master/apps"
	"gasper/master/auth"
	"gasper/master/dbs"
	"gasper/master/nodes"
	"gasper/master/pki"
	"gasper/master/remote"
	"gasper/master/secrets"
	"gasper/master/store"
)

const adminEmail, adminPassword = "admin@example.com", "admin-password-1"

// noTunnel is a cluster without connected nodes.
type noTunnel struct{}

func (noTunnel) Client(string) (*http.Client, bool) { return nil, false }

type env struct {
	t      *testing.T
	srv    *httptest.Server
	api    *Server
	store  *store.Store
	signer *auth.Signer
	key    []byte
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "gasper.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, _ := auth.HashPassword(adminPassword)
	if _, err := st.CreateUser(ctx, adminEmail, hash, true); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	signer, _ := auth.NewSigner(key)
	reg, err := nodes.New(ctx, nodes.Config{Store: st, CACertDER: []byte("test CA"), Interval: time.Second, Grace: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	box, _ := secrets.New(bytes.Repeat([]byte{9}, 32))
	sources, err := apps.NewSources(filepath.Join(t.TempDir(), "sources"))
	if err != nil {
		t.Fatal(err)
	}
	appsvc := apps.New(apps.Config{Store: st, Box: box, Sources: sources, Nodes: reg, Tunnel: noTunnel{},
		DefaultMemory: 256 << 20, DefaultCPUs: 0.5})
	remotes := remote.New(remote.Config{Store: st, Apps: appsvc, Nodes: reg, Tunnel: noTunnel{}})
	dbsvc, err := dbs.New(dbs.Config{Store: st, Box: box, Nodes: reg, Tunnel: noTunnel{}, Apps: appsvc,
		Domain: "gasper.test", BackupDir: filepath.Join(t.TempDir(), "backups")})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Store: st, Signer: signer, Nodes: reg, Apps: appsvc, DBs: dbsvc, Remote: remotes, TunnelAddr: "master:7443", Box: box,
		AccessTTL: time.Minute, RefreshTTL: time.Hour, JoinTokenTTL: time.Hour, Version: "test"})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	tt, _ := t.(*testing.T)
	return &env{t: tt, srv: srv, api: s, store: st, signer: signer, key: key}
}

// call makes a request and decodes a JSON response into out (if not nil).
func (e *env) call(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+api.Prefix+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var er api.ErrorResponse
		if err := json.Unmarshal(raw, &er); err != nil || er.Error.Code == "" || er.Error.Message == "" {
			e.t.Fatalf("%s %s: status %d with a body that is not an API error: %s", method, path, resp.StatusCode, raw)
		}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (e *env) login(email, password string) api.Session {
	e.t.Helper()
	var s api.Session
	if st := e.call("POST", "/auth/login", "", api.LoginRequest{Email: email, Password: password}, &s); st != 200 {
		e.t.Fatalf("login %s: status %d", email, st)
	}
	return s
}

func (e *env) createUser(adminTok, email string, isAdmin bool) {
	e.t.Helper()
	if st := e.call("POST", "/users", adminTok, api.CreateUserRequest{Email: email, Password: "password-of-" + email, Admin: isAdmin}, nil); st != 201 {
		e.t.Fatalf("create user %s: status %d", email, st)
	}
}

func TestLoginDoesNotTellWhetherTheEmailExists(t *testing.T) {
	e := newEnv(t)
	var wrongPw, noUser api.ErrorResponse
	if st := e.call("POST", "/auth/login", "", api.LoginRequest{Email: adminEmail, Password: "wrong-password"}, &wrongPw); st != 401 {
		t.Fatalf("wrong password: status %d, want 401", st)
	}
	if st := e.call("POST", "/auth/login", "", api.LoginRequest{Email: "nobody@example.com", Password: "wrong-password"}, &noUser); st != 401 {
		t.Fatalf("unknown email: status %d, want 401", st)
	}
	if wrongPw != noUser {
		t.Fatalf("answers differ: %+v vs %+v", wrongPw, noUser)
	}
}

func TestRejectedCredentials(t *testing.T) {
	e := newEnv(t)
	s := e.login(adminEmail, adminPassword)
	claims := func(sid string, exp time.Time) Claims {
		return Claims{SessionID: sid, RegisteredClaims: jwt.RegisteredClaims{Issuer: auth.Issuer, Subject: s.User.ID, ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	sid, _, _ := strings.Cut(s.RefreshToken, ".")
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(sid, time.Now().Add(-time.Second))).SignedString(e.key)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(sid, time.Now().Add(time.Hour))).SignedString(bytes.Repeat([]byte{8}, 32))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(sid, time.Now().Add(time.Hour))).SignedString(jwt.UnsafeAllowNoneSignatureType)
	otherSession, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("s-doesnotexist", time.Now().Add(time.Hour))).SignedString(e.key)

	for name, tok := range map[string]string{
		"no token": "", "expired JWT": expired, "JWT signed with another key": forged, "alg none": none,
		"JWT of an unknown session": otherSession, "garbage": "abc", "malformed API token": "gsp_nounderscore",
		"unknown API token": "gsp_t-000000000000_secret",
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			if st := e.call("GET", "/whoami", tok, nil, nil); st != 401 {
				t.Fatalf("status %d, want 401", st)
			}
		})
	}
}

// Claims aliases auth.Claims for building hostile tokens in tests.
type Claims = auth.Claims

func TestLogoutAndRefresh(t *testing.T) {
	e := newEnv(t)
	s := e.login(adminEmail, adminPassword)
	var s2 api.Session
	if st := e.call("POST", "/auth/refresh", "", api.RefreshRequest{RefreshToken: s.RefreshToken}, &s2); st != 200 {
		t.Fatalf("refresh: %d", st)
	}
	if s2.RefreshToken == s.RefreshToken {
		t.Fatal("refresh token was not rotated")
	}
	if st := e.call("GET", "/whoami", s2.AccessToken, nil, nil); st != 200 {
		t.Fatalf("new access token: %d", st)
	}
	// The spent refresh token comes back: the whole session ends.
	if st := e.call("POST", "/auth/refresh", "", api.RefreshRequest{RefreshToken: s.RefreshToken}, nil); st != 401 {
		t.Fatalf("reused refresh token: %d, want 401", st)
	}
	if st := e.call("GET", "/whoami", s2.AccessToken, nil, nil); st != 401 {
		t.Fatalf("session after refresh-token reuse: %d, want 401", st)
	}

	s3 := e.login(adminEmail, adminPassword)
	if st := e.call("POST", "/auth/logout", s3.AccessToken, nil, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if st := e.call("GET", "/whoami", s3.AccessToken, nil, nil); st != 401 {
		t.Fatalf("access token after logout: %d, want 401", st)
	}
	if st := e.call("POST", "/auth/refresh", "", api.RefreshRequest{RefreshToken: s3.RefreshToken}, nil); st != 401 {
		t.Fatalf("refresh after logout: %d, want 401", st)
	}
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	admin := e.login(adminEmail, adminPassword).AccessToken
	var tok api.CreatedAPIToken
	if st := e.call("POST", "/tokens", admin, api.CreateAPITokenRequest{Name: "ci"}, &tok); st != 201 {
		t.Fatalf("create token: %d", st)
	}
	var me api.User
	if st := e.call("GET", "/whoami", tok.Token, nil, &me); st != 200 || me.Email != adminEmail {
		t.Fatalf("whoami with API token: %d %+v", st, me)
	}
	var list []api.APIToken
	e.call("GET", "/tokens", admin, nil, &list)
	if len(list) != 1 || list[0].ID != tok.ID || list[0].LastUsedAt == nil {
		t.Fatalf("token list = %+v, want the one token, used", list)
	}
	// The secret is base64url and may itself hold "_": cut only twice.
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), strings.SplitN(tok.Token, "_", 3)[2]) {
		t.Fatal("token list leaks the secret")
	}
	if st := e.call("POST", "/auth/logout", tok.Token, nil, nil); st != 400 {
		t.Fatalf("logout with an API token: %d, want 400", st)
	}
	if st := e.call("DELETE", "/tokens/"+tok.ID, admin, nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if st := e.call("GET", "/whoami", tok.Token, nil, nil); st != 401 {
		t.Fatalf("revoked API token: %d, want 401", st)
	}
	var short api.CreatedAPIToken
	e.call("POST", "/tokens", admin, api.CreateAPITokenRequest{Name: "short", TTL: "1ms"}, &short)
	time.Sleep(5 * time.Millisecond)
	if st := e.call("GET", "/whoami", short.Token, nil, nil); st != 401 {
		t.Fatalf("expired API token: %d, want 401", st)
	}
}

func TestRightsAreReadOnEveryRequest(t *testing.T) {
	e := newEnv(t)
	admin := e.login(adminEmail, adminPassword).AccessToken
	e.createUser(admin, "bob@example.com", false)
	e.createUser(admin, "carol@example.com", true)
	bob := e.login("bob@example.com", "password-of-bob@example.com").AccessToken
	var bobTok api.CreatedAPIToken
	e.call("POST", "/tokens", bob, api.CreateAPITokenRequest{Name: "bob"}, &bobTok)
	carol := e.login("carol@example.com", "password-of-carol@example.com").AccessToken

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/users", api.CreateUserRequest{Email: "eve@example.com", Password: "eve-password"}},
		{"POST", "/nodes/tokens", api.CreateJoinTokenRequest{}},
		{"GET", "/users", nil},
		{"GET", "/nodes", nil},
		{"GET", "/audit", nil},
		{"GET", "/users/" + adminEmail, nil},
		{"DELETE", "/users/carol@example.com", nil},
	} {
		if st := e.call(c.method, c.path, bob, c.body, nil); st != 403 {
			t.Errorf("non-admin %s %s: %d, want 403", c.method, c.path, st)
		}
	}
	if st := e.call("GET", "/users/bob@example.com", bob, nil, nil); st != 200 {
		t.Errorf("user reading themself: %d", st)
	}
	if st := e.call("POST", "/nodes/tokens", carol, api.CreateJoinTokenRequest{}, nil); st != 201 {
		t.Fatalf("admin carol creating a join token: %d", st)
	}
	// Revoked admin rights apply to the very next request with the same token.
	if st := e.call("DELETE", "/users/carol@example.com/admin", admin, nil, nil); st != 200 {
		t.Fatalf("revoke admin: %d", st)
	}
	if st := e.call("POST", "/nodes/tokens", carol, api.CreateJoinTokenRequest{}, nil); st != 403 {
		t.Fatalf("carol after revoke: %d, want 403", st)
	}
	// A deleted user's access and API tokens stop at once.
	if st := e.call("DELETE", "/users/bob@example.com", admin, nil, nil); st != 204 {
		t.Fatalf("delete bob: %d", st)
	}
	for name, tok := range map[string]string{"access token": bob, "API token": bobTok.Token} {
		if st := e.call("GET", "/whoami", tok, nil, nil); st != 401 {
			t.Errorf("deleted user's %s: %d, want 401", name, st)
		}
	}
	// The last admin cannot lose admin rights, nor delete themself.
	if st := e.call("DELETE", "/users/"+adminEmail+"/admin", admin, nil, nil); st != 409 {
		t.Errorf("revoking the last admin: %d, want 409", st)
	}
	if st := e.call("DELETE", "/users/"+adminEmail, admin, nil, nil); st != 400 {
		t.Errorf("admin deleting themself: %d, want 400", st)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	admin := e.login(adminEmail, adminPassword).AccessToken
	tests := []struct {
		method, path string
		body         any
		want         int
		mention      string
	}{
		{"POST", "/users", `{"email":"x@example.com","password":"long-enough","extra":1}`, 400, "unknown field"},
		{"POST", "/users", `{"email":"x@example.com"`, 400, "invalid JSON"},
		{"POST", "/users", ``, 400, "empty"},
		{"POST", "/users", api.CreateUserRequest{Email: "not an email", Password: "long-enough"}, 400, "not a valid email"},
		{"POST", "/users", api.CreateUserRequest{Email: "x@example.com", Password: "short"}, 400, "too short"},
		{"POST", "/users", api.CreateUserRequest{Email: adminEmail, Password: "long-enough"}, 409, "already exists"},
		{"POST", "/users", `{"email":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "larger than"},
		{"POST", "/tokens", api.CreateAPITokenRequest{Name: ""}, 400, "token name"},
		{"POST", "/tokens", api.CreateAPITokenRequest{Name: "x", TTL: "forever"}, 400, "not a duration"},
		{"POST", "/nodes/tokens", api.CreateJoinTokenRequest{TTL: "-1h"}, 400, "out of range"},
		{"GET", "/nodes/n-nope", nil, 404, "not found"},
		{"GET", "/audit?limit=0", nil, 400, "limit"},
		{"GET", "/no/such/route", nil, 404, "no API route"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.mention, func(t *testing.T) {
			e.t = t
			var er api.ErrorResponse
			if st := e.call(tt.method, tt.path, admin, tt.body, &er); st != tt.want || !strings.Contains(er.Error.Message, tt.mention) {
				t.Fatalf("status %d %q, want %d mentioning %q", st, er.Error.Message, tt.want, tt.mention)
			}
		})
	}
}

// TestOpenAPIDocumentIsTrue walks every route of the document with real
// requests and checks each answer against the schema the document gives.
func TestOpenAPIDocumentIsTrue(t *testing.T) {
	e := newEnv(t)
	var doc map[string]any
	if st := e.call("GET", "/openapi.json", "", nil, &doc); st != 200 {
		t.Fatalf("openapi.json: %d", st)
	}
	admin := e.login(adminEmail, adminPassword)
	var tok api.CreatedAPIToken
	e.call("POST", "/tokens", admin.AccessToken, api.CreateAPITokenRequest{Name: "walk"}, &tok)
	e.createUser(admin.AccessToken, "u2@example.com", false)
	e.createUser(admin.AccessToken, "gone@example.com", false)
	ctx := context.Background()
	e.store.CreateNode(ctx, store.Node{ID: "n-000000000001", Hostname: "node1", Advertise: "127.0.0.2", Roles: []string{"app"},
		State: api.NodeReady, JoinedAt: time.Now()})
	e.store.CreateNode(ctx, store.Node{ID: "n-000000000002", Hostname: "node2", Advertise: "127.0.0.3", Roles: []string{"db"},
		State: api.NodeReady, JoinedAt: time.Now()})

	bodies := map[string]any{
		"POST /auth/login":             api.LoginRequest{Email: adminEmail, Password: adminPassword},
		"POST /auth/refresh":           api.RefreshRequest{RefreshToken: e.login(adminEmail, adminPassword).RefreshToken},
		"POST /users":                  api.CreateUserRequest{Email: "new@example.com", Password: "new-password"},
		"POST /tokens":                 api.CreateAPITokenRequest{Name: "doc", TTL: "1h"},
		"POST /nodes/tokens":           api.CreateJoinTokenRequest{TTL: "10m"},
		"POST /apps":                   api.CreateAppRequest{Name: "walk", Env: map[string]string{"A": "1"}},
		"PATCH /apps/{app}":            api.UpdateAppRequest{AppConfig: api.AppConfig{CPUs: 1}},
		"POST /apps/{app}/source":      sourceArchive(t),
		"POST /apps/{app}/rollback":    api.RollbackRequest{},
		"POST /apps/{app}/scale":       api.ScaleRequest{Replicas: 2},
		"PATCH /apps/{app}/env":        api.EnvRequest{Set: map[string]string{"B": "2"}, Unset: []string{"A"}},
		"POST /apps/{app}/domains":     api.DomainRequest{Domain: "www.walked.example"},
		"POST /certificates":           testCertificate(t, "www.example.com"),
		"POST /databases":              api.CreateDatabaseRequest{Name: "walk-db", Engine: "postgresql"},
		"POST /databases/{db}/links":   api.LinkRequest{App: "walked"},
		"POST /databases/{db}/restore": api.RestoreRequest{Backup: "b-000000000000"},
		"POST /ssh-keys":               api.AddSSHKeyRequest{PublicKey: testPublicKey(t)},
		"PATCH /apps/{app}/ssh":        api.UpdateAppSSHRequest{PushBranch: "prod"},
	}
	if st := e.call("POST", "/databases", admin.AccessToken, api.CreateDatabaseRequest{Name: "walked-db", Engine: "redis"}, nil); st != 201 {
		t.Fatalf("create database: %d", st)
	}
	// What the walk reads and deletes must exist before the paths are
	// walked, in whatever order the document lists them.
	if st := e.call("POST", "/apps", admin.AccessToken, api.CreateAppRequest{Name: "walked"}, nil); st != 201 {
		t.Fatalf("create app: %d", st)
	}
	if st := e.call("POST", "/certificates", admin.AccessToken, testCertificate(t, "gone.example.com"), nil); st != 201 {
		t.Fatalf("upload a certificate: %d", st)
	}
	var key api.SSHKey
	if st := e.call("POST", "/ssh-keys", admin.AccessToken, api.AddSSHKeyRequest{PublicKey: testPublicKey(t)}, &key); st != 201 {
		t.Fatalf("add an SSH key: %d", st)
	}
	params := map[string]string{"{key}": key.ID, "{user}": "u2@example.com", "{id}": tok.ID, "{node}": "node1", "{app}": "walked",
		"{n}": "1", "{domain}": "www.walked.example", "{name}": "gone.example.com", "{db}": "walked-db"}
	deleteParams := map[string]string{"{key}": key.ID, "{user}": "gone@example.com", "{id}": tok.ID, "{node}": "n-000000000002",
		"{app}": "walked", "{domain}": "www.walked.example", "{name}": "gone.example.com", "{db}": "walked-db"}
	paths := doc["paths"].(map[string]any)
	seen := 0
	// Non-DELETE first, so that deletions do not remove what others read.
	for _, pass := range []string{"other", "delete"} {
		for p, ops := range paths {
			for method, op := range ops.(map[string]any) {
				if (method == "delete") != (pass == "delete") {
					continue
				}
				path := strings.TrimPrefix(p, api.Prefix)
				key := strings.ToUpper(method) + " " + path
				ps := params
				if method == "delete" && !strings.HasSuffix(path, "/admin") {
					ps = deleteParams
				}
				for k, v := range ps {
					path = strings.ReplaceAll(path, k, v)
				}
				token := admin.AccessToken
				if key == "POST /auth/logout" {
					token = e.login(adminEmail, adminPassword).AccessToken
				}
				responses := op.(map[string]any)["responses"].(map[string]any)
				var got any
				var out any = &got
				for st, r := range responses {
					if c, _ := r.(map[string]any)["content"].(map[string]any); st < "300" && c["text/plain"] != nil {
						out = nil // a stream: checked for its status only
					}
				}
				status := e.call(strings.ToUpper(method), path, token, bodies[key], out)
				resp, ok := responses[fmt.Sprint(status)].(map[string]any)
				// App and database routes need a node to succeed; without
				// one they must still answer as documented.
				needNode := strings.HasPrefix(path, "/apps") || strings.HasPrefix(path, "/databases/") || strings.HasPrefix(path, "/backups")
				if !ok || (status >= 300 && !needNode) {
					t.Errorf("%s: status %d is not documented as success: %v", key, status, got)
					continue
				}
				seen++
				content, _ := resp["content"].(map[string]any)
				if content == nil {
					if got != nil {
						t.Errorf("%s: documented without a body, answered %v", key, got)
					}
					continue
				}
				if out == nil {
					continue
				}
				schema := content["application/json"].(map[string]any)["schema"].(map[string]any)
				if err := validate(doc, schema, got, key); err != nil {
					t.Errorf("%s: %v", key, err)
				}
			}
		}
	}
	if want := len(e.api.routes()); seen != want {
		t.Errorf("walked %d operations, the API has %d routes", seen, want)
	}
}

// testCertificate makes a certificate and key for name, signed by a
// throwaway CA.
func testCertificate(t *testing.T, name string) api.CertificateRequest {
	ca, err := pki.LoadOrCreateNamedCA(t.TempDir(), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.IssuePEM([]string{name}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return api.CertificateRequest{CertPEM: string(cert), KeyPEM: string(key)}
}

// sourceArchive packs a one-file source tree.
func sourceArchive(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hi"), 0o644)
	var b bytes.Buffer
	if err := archive.Pack(dir, &b, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// validate checks a decoded JSON value against a schema of the document.
func validate(doc map[string]any, schema map[string]any, v any, at string) error {
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		return validate(doc, doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any), v, at)
	}
	if v == nil {
		if schema["nullable"] == true {
			return nil
		}
		return fmt.Errorf("%s: null where the document does not allow it", at)
	}
	if all, ok := schema["allOf"].([]any); ok {
		return validate(doc, all[0].(map[string]any), v, at)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want object", at, v)
		}
		props, _ := schema["properties"].(map[string]any)
		if props == nil {
			return nil // free-form object
		}
		for k, pv := range obj {
			ps, ok := props[k]
			if !ok {
				return fmt.Errorf("%s: field %q is not in the document", at, k)
			}
			if err := validate(doc, ps.(map[string]any), pv, at+"."+k); err != nil {
				return err
			}
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required field %q missing", at, r)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want array", at, v)
		}
		for i, e := range arr {
			if err := validate(doc, schema["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T, want string", at, v)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, s)
			}
		}
	case "integer", "number":
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: %T, want number", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want boolean", at, v)
		}
	}
	return nil
}
