package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gasper/agent"
	"gasper/internal/jointoken"
)

func TestJoinFlagsEnvAndFile(t *testing.T) {
	tok, err := jointoken.New([]byte("ca"))
	if err != nil {
		t.Fatal(err)
	}
	fileTok, _ := jointoken.New([]byte("file ca"))
	cfgFile := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(cfgFile, []byte("master: file-master:7443\nroles: [dns, ssh]\nname: from-file\nadvertise: 10.9.9.9\ntoken: "+fileTok.String()+"\n"), 0o600)

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    agent.Config
		wantErr string
	}{
		{
			name: "flags",
			args: []string{"m.example:7443", "--token", tok.String(), "--roles", "app,db", "--advertise", "10.0.0.5", "--state-dir", "/srv/agent", "--name", "n1", "--containerd-socket", "/x.sock", "--containerd-namespace", "ns", "--max-builds", "2"},
			want: agent.Config{Master: "m.example:7443", JoinToken: tok.String(), Roles: []string{"app", "db"}, Advertise: "10.0.0.5", StateDir: "/srv/agent", Name: "n1", ContainerdSocket: "/x.sock", ContainerdNamespace: "ns", Bridge: "gasper0", Subnet: "10.89.0.0/24", ImageCacheDir: "/var/lib/gasper/images",
				ProxyHTTPAddr: "10.0.0.5:80", ProxyHTTPSAddr: "10.0.0.5:443", DNSAddr: "10.0.0.5:53", SSHAddr: "10.0.0.5:2222", SSHIdleTimeout: 30 * time.Minute, MaxBuilds: 2},
		},
		{
			name: "environment fills what flags leave",
			args: []string{"--roles", "proxy"},
			env:  map[string]string{"GASPER_ADVERTISE": "10.2.2.2", "GASPER_MASTER": "env-master:1", "GASPER_JOIN_TOKEN": tok.String(), "GASPER_TOKEN": "api-token-must-be-ignored", "GASPER_ROLES": "app", "GASPER_STATE_DIR": "/env/state", "GASPER_NAME": "env-name"},
			want: agent.Config{Master: "env-master:1", JoinToken: tok.String(), Roles: []string{"proxy"}, Advertise: "10.2.2.2", StateDir: "/env/state", Name: "env-name", ContainerdSocket: agent.DefaultContainerdSocket, ContainerdNamespace: "gasper", Bridge: "gasper0", Subnet: "10.89.0.0/24", ImageCacheDir: "/var/lib/gasper/images",
				ProxyHTTPAddr: "10.2.2.2:80", ProxyHTTPSAddr: "10.2.2.2:443", DNSAddr: "10.2.2.2:53", SSHAddr: "10.2.2.2:2222", SSHIdleTimeout: 30 * time.Minute, MaxBuilds: 2},
		},
		{
			name: "config file below environment and flags",
			args: []string{"--config", cfgFile, "--name", "from-flag"},
			env:  map[string]string{"GASPER_ADVERTISE": "10.1.1.1"},
			want: agent.Config{Master: "file-master:7443", JoinToken: fileTok.String(), Roles: []string{"dns", "ssh"}, Advertise: "10.1.1.1", StateDir: agent.DefaultStateDir, Name: "from-flag", ContainerdSocket: agent.DefaultContainerdSocket, ContainerdNamespace: "gasper", Bridge: "gasper0", Subnet: "10.89.0.0/24", ImageCacheDir: "/var/lib/gasper/images",
				ProxyHTTPAddr: "10.1.1.1:80", ProxyHTTPSAddr: "10.1.1.1:443", DNSAddr: "10.1.1.1:53", SSHAddr: "10.1.1.1:2222", SSHIdleTimeout: 30 * time.Minute, MaxBuilds: 2},
		},
		{name: "negative max builds", args: []string{"m:1", "--roles", "app", "--advertise", "10.0.0.5", "--max-builds", "-1"}, wantErr: "--max-builds -1"},
		{name: "unknown role", args: []string{"m:1", "--roles", "web"}, wantErr: `unknown role "web"`},
		{name: "bad log level", args: []string{"m:1", "--roles", "app", "--log-level", "loud"}, wantErr: "--log-level"},
		{name: "two masters", args: []string{"a:1", "b:2", "--roles", "app"}, wantErr: "accepts at most 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got agent.Config
			cmd := newJoinCmd(&bytes.Buffer{}, func(_ context.Context, c agent.Config) error { got = c; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Logger == nil {
				t.Error("no logger set")
			}
			ignore := cmpopts.IgnoreFields(agent.Config{}, "Logger", "ContainerdTimeout", "BackoffMin", "BackoffMax")
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "gasper-agent dev (protocol 2"},
		{name: "malformed token", args: []string{"join", "127.0.0.1:1", "--roles", "app", "--token", "nope", "--state-dir", t.TempDir()}, wantCode: exitUsage, wantStderr: "join token is malformed"},
		{name: "unknown flag", args: []string{"join", "--bogus"}, wantCode: exitUsage, wantStderr: "unknown flag: --bogus"},
		{name: "no containerd", args: []string{"join", "127.0.0.1:1", "--roles", "app", "--advertise", "127.0.0.1", "--state-dir", t.TempDir(), "--containerd-socket", "/nonexistent/containerd.sock", "--log-format", "text"}, wantCode: exitError, wantStderr: "containerd socket /nonexistent/containerd.sock does not exist: is containerd running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout %q stderr %q\nwant stdout containing %q and stderr containing %q", stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}
