package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"gasper/api"
)

// FuzzRequestBodies sends arbitrary bodies to every route that takes one, as
// an admin and anonymously: the API must never panic or answer 5xx.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f)
	s := e.api
	login := httptest.NewRecorder()
	s.ServeHTTP(login, httptest.NewRequest("POST", api.Prefix+"/auth/login",
		bytes.NewBufferString(`{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`)))
	if login.Code != 200 {
		f.Fatalf("login: %d %s", login.Code, login.Body)
	}
	token := between(login.Body.String(), `"access_token": "`, `"`)
	var targets []route
	for _, rt := range s.routes() {
		if rt.Request != nil {
			targets = append(targets, rt)
		}
	}
	for _, seed := range []string{`{}`, `{"email":"a@b.c","password":"12345678"}`, `{"ttl":"1h"}`, `{"name":"x"}`,
		`{"refresh_token":"s-1.x"}`, `[]`, `null`, `"x"`, `{"email":1}`, `{"ttl":"9999999999h"}`, "\x00"} {
		for i := range targets {
			f.Add(uint8(i), true, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, authed bool, body []byte) {
		rt := targets[int(which)%len(targets)]
		path := api.Prefix + rt.Path
		req := httptest.NewRequest(rt.Method, path, bytes.NewReader(body))
		if authed {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: status %d: %s", rt.Method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("%s %s: error without an error body: %s", rt.Method, path, rec.Body)
		}
		if rec.Code == http.StatusOK && rt.Path == "/auth/refresh" {
			t.Fatalf("refresh accepted a fuzzed token %q", body)
		}
	})
}

func between(s, from, to string) string {
	_, rest, _ := bytes.Cut([]byte(s), []byte(from))
	v, _, _ := bytes.Cut(rest, []byte(to))
	return string(v)
}
