package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDashboardFlags(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		wantIntvl   time.Duration
		wantNoColor bool
		wantUsage   bool
	}{
		{"defaults", nil, nil, 2 * time.Second, false, false},
		{"interval and no colour", []string{"--interval", "500ms", "--no-color"}, nil, 500 * time.Millisecond, true, false},
		{"NO_COLOR", nil, map[string]string{"NO_COLOR": "1"}, 2 * time.Second, true, false},
		{"too short", []string{"--interval", "10ms"}, nil, 0, false, true},
		{"no arguments", []string{"web"}, nil, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := testGlobals()
			g.getenv = func(k string) string { return tt.env[k] }
			var got *dashboardOptions
			err := parse(t, g, newCmdDashboard(g, func(o *dashboardOptions) error { got = o; return nil }), tt.args...)
			if tt.wantUsage {
				if !isUsage(err) {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Interval != tt.wantIntvl || got.NoColor != tt.wantNoColor {
				t.Errorf("options = %+v, want interval %s, no colour %v", got, tt.wantIntvl, tt.wantNoColor)
			}
		})
	}
}

func TestDashboardNeedsATerminal(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)
	r := invocation{env: env}.run(t, "dashboard")
	wantExit(t, r, exitError)
	if !strings.Contains(r.stderr, "needs a terminal") || !strings.Contains(r.stderr, "gasper app list --json") {
		t.Errorf("stderr = %q, want the reason and the scripting alternative", r.stderr)
	}
}

func TestDashboardNotLoggedIn(t *testing.T) {
	r := invocation{env: newEnv(t), tty: true}.run(t, "dashboard")
	wantExit(t, r, exitAuth)
	if !strings.Contains(r.stderr, "gasper login") {
		t.Errorf("stderr = %q, want a hint to log in", r.stderr)
	}
}

func TestPackForDashboard(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello"), 0o644)
	r, done, err := packForDashboard(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || len(b) < 20 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("archive: %d bytes, %v; want gzip", len(b), err)
	}
	f := r.(*os.File)
	done()
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("temporary archive %s left behind: %v", f.Name(), err)
	}
	if _, _, err := packForDashboard(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing dir: err = %v", err)
	}
}
