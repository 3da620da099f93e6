package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/cmd/gasper/internal/config"
)

func TestDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"GASPER_CONFIG_DIR wins", map[string]string{config.EnvConfigDir: "/tmp/elsewhere"}, "/tmp/elsewhere"},
		{"else the user config dir", nil, filepath.Join(xdg, "gasper")},
	}
	for _, tt := range tests {
		got, err := config.Dir(func(k string) string { return tt.env[k] })
		if err != nil || got != tt.want {
			t.Errorf("%s: Dir = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestFilesRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gasper")
	if c, err := config.LoadCredentials(dir); c != nil || err != nil {
		t.Fatalf("LoadCredentials of nothing = %v, %v; want nil, nil", c, err)
	}
	if c, err := config.Load(dir); c != (config.Config{}) || err != nil {
		t.Fatalf("Load of nothing = %v, %v; want zero, nil", c, err)
	}

	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	want := config.Credentials{Master: "http://127.0.0.1:7080", Session: api.Session{
		AccessToken: "a", AccessExpiresAt: exp, RefreshToken: "r", RefreshExpiresAt: exp, User: api.User{Email: "e@x"},
	}}
	if err := config.SaveCredentials(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := config.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(dir, config.CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode = %v, %v; want 0600", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("config dir holds %d entries, want just the credentials (no temp files)", len(entries))
	}

	if err := config.Save(dir, config.Config{Master: "http://m", Email: "e@x"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, config.ConfigFile))
	if string(b) != "master: http://m\nemail: e@x\n" {
		t.Errorf("config.yaml = %q", b)
	}

	if err := config.RemoveCredentials(dir); err != nil {
		t.Fatal(err)
	}
	if err := config.RemoveCredentials(dir); err != nil {
		t.Errorf("second remove: %v, want nil", err)
	}
}
