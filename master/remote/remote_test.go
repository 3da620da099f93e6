package remote

import (
	"errors"
	"testing"

	"gasper/api"
	"gasper/proto"
)

func TestParseLogin(t *testing.T) {
	tests := []struct {
		login string
		app   string
		n     int
		ok    bool
	}{
		{"web", "web", 0, true},
		{"web.2", "web", 2, true},
		{"git", "", 0, true},
		{"web.0", "", 0, false},
		{"web.x", "", 0, false},
		{"Web", "", 0, false},
		{"..", "", 0, false},
		{"a/b", "", 0, false},
		{"", "", 0, false},
		{"web.1.2", "", 0, false},
	}
	for _, tt := range tests {
		app, n, err := parseLogin(tt.login)
		if (err == nil) != tt.ok || app != tt.app || n != tt.n {
			t.Errorf("parseLogin(%q) = %q, %d, %v", tt.login, app, n, err)
		}
	}
}

func TestPick(t *testing.T) {
	s := New(Config{})
	a := api.App{Name: "web", Release: 2, Status: api.AppRunning, Instances: []api.Instance{
		{ID: "web-r1-a", Release: 1, State: proto.InstanceHealthy},
		{ID: "web-r2-b", Release: 2, State: proto.InstanceHealthy},
		{ID: "web-r2-c", Release: 2, State: proto.InstanceCrashLoop},
	}}
	for _, tt := range []struct {
		n    int
		want string
		err  error
	}{
		{0, "web-r2-b", nil},
		{1, "web-r1-a", nil},
		{3, "", api.ErrConflict},
		{4, "", api.ErrNotFound},
	} {
		in, err := s.pick(a, tt.n)
		if in.ID != tt.want || (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("pick(%d) = %q, %v; want %q, %v", tt.n, in.ID, err, tt.want, tt.err)
		}
	}
	if _, err := s.pick(api.App{Name: "web", Status: api.AppFailed}, 0); !errors.Is(err, api.ErrConflict) {
		t.Errorf("no instance: %v, want conflict", err)
	}
}

func TestValidBranch(t *testing.T) {
	for b, ok := range map[string]bool{"main": true, "release/2026": true, "feature-x_1": true,
		"-x": false, "a..b": false, "a b": false, "a:b": false, "x.lock": false, "/x": false, "x/": false, "a@{1}": false} {
		if err := validBranch(b); (err == nil) != ok {
			t.Errorf("validBranch(%q) = %v", b, err)
		}
	}
}
