package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

type settings struct {
	Listen   string
	DataDir  string
	Interval time.Duration
	Roles    []string
}

func parse(t *testing.T, args []string, env map[string]string, file string) (settings, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var s settings
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.StringVar(&s.Listen, "listen", "127.0.0.1:7080", "")
	fs.StringVar(&s.DataDir, "data-dir", "/var/lib/gasper", "")
	fs.DurationVar(&s.Interval, "heartbeat-interval", time.Second, "")
	fs.StringSliceVar(&s.Roles, "roles", []string{"app"}, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(file), 0o600)
	}
	return s, Apply(fs, path)
}

func TestPrecedence(t *testing.T) {
	file := "listen: file:1\ndata_dir: /file\nheartbeat_interval: 3s\nroles: [db, dns]\n"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want settings
	}{
		{"defaults", nil, nil, "", settings{"127.0.0.1:7080", "/var/lib/gasper", time.Second, []string{"app"}}},
		{"file over defaults", nil, nil, file, settings{"file:1", "/file", 3 * time.Second, []string{"db", "dns"}}},
		{"env over file", nil, map[string]string{"GASPER_LISTEN": "env:1", "GASPER_ROLES": "proxy"}, file,
			settings{"env:1", "/file", 3 * time.Second, []string{"proxy"}}},
		{"flag over env", []string{"--listen", "flag:1"}, map[string]string{"GASPER_LISTEN": "env:1"}, file,
			settings{"flag:1", "/file", 3 * time.Second, []string{"db", "dns"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Fatalf("settings (-want +got):\n%s", d)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{"bad env value", map[string]string{"GASPER_HEARTBEAT_INTERVAL": "soon"}, "", "GASPER_HEARTBEAT_INTERVAL"},
		{"unknown file key", nil, "listen: x\nlisen: y\n", "unknown settings lisen"},
		{"bad yaml", nil, "listen: [", "c.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, nil, tt.env, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
