package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"

	"gasper/api"
)

// These tests parse app flags and arguments only: the run function is
// replaced, so nothing talks to a master.

func TestAppCreateFlags(t *testing.T) {
	base := appCreateOptions{Name: "web", From: ".", WaitTimeout: defaultWaitTimeout, Replicas: 1}
	with := func(f func(o *appCreateOptions)) appCreateOptions {
		o := base
		f(&o)
		return o
	}
	tests := []struct {
		name      string
		args      []string
		want      appCreateOptions
		wantUsage string // substring of the usage error
	}{
		{"minimal", []string{"web", "--from", "."}, base, ""},
		{"-a instead of the argument", []string{"-a", "web", "--from", "."}, with(func(o *appCreateOptions) { o.AppFlag = "web" }), ""},
		{"config flags", []string{"web", "--from", ".", "--runtime", "nodejs", "--memory", "512Mi", "--cpu", "0.5",
			"--build-cmd", "npm run build", "--start-cmd", "node server.js", "--port", "3000", "--health-path", "/health",
			"-e", "A=1", "--env", "B=x=y", "--env-file", ".env", "--no-wait", "--wait-timeout", "2m", "--json"},
			with(func(o *appCreateOptions) {
				o.Runtime, o.Memory, o.CPU, o.BuildCmd, o.StartCmd, o.Port, o.HealthPath = "nodejs", "512Mi", 0.5, "npm run build", "node server.js", 3000, "/health"
				o.Env, o.EnvFile, o.NoWait, o.WaitTimeout, o.JSON = []string{"A=1", "B=x=y"}, ".env", true, 2*time.Minute, true
				o.Config = api.AppConfig{Runtime: "nodejs", BuildCmd: "npm run build", StartCmd: "node server.js", Port: 3000,
					MemoryBytes: 512 << 20, CPUs: 0.5, Health: &api.HealthCheck{Type: "http", Path: "/health"}}
				o.EnvSet = map[string]string{"A": "1", "B": "x=y"}
			}), ""},
		{"git", []string{"web", "--git", "https://git.invalid/r.git", "--branch", "dev", "--git-token-stdin", "--health-tcp"},
			with(func(o *appCreateOptions) {
				o.From, o.Git, o.Branch, o.GitTokenStdin, o.HealthTCP = "", "https://git.invalid/r.git", "dev", true, true
				o.Config.Health = &api.HealthCheck{Type: "tcp"}
			}), ""},
		{"no source", []string{"web"}, appCreateOptions{}, "nothing to deploy"},
		{"both sources", []string{"web", "--from", ".", "--git", "u"}, appCreateOptions{}, "exclude each other"},
		{"branch without git", []string{"web", "--from", ".", "--branch", "x"}, appCreateOptions{}, "need --git"},
		{"unknown runtime", []string{"web", "--from", ".", "--runtime", "cobol"}, appCreateOptions{}, `unknown runtime "cobol"`},
		{"bad memory", []string{"web", "--from", ".", "--memory", "lots"}, appCreateOptions{}, "invalid memory size"},
		{"memory without unit", []string{"web", "--from", ".", "--memory", "256"}, appCreateOptions{}, "too little"},
		{"zero cpu", []string{"web", "--from", ".", "--cpu", "0"}, appCreateOptions{}, "--cpu"},
		{"bad port", []string{"web", "--from", ".", "--port", "70000"}, appCreateOptions{}, "--port"},
		{"two health checks", []string{"web", "--from", ".", "--health-tcp", "--health-path", "/h"}, appCreateOptions{}, "exclude each other"},
		{"relative health path", []string{"web", "--from", ".", "--health-path", "health"}, appCreateOptions{}, "start with /"},
		{"bad env", []string{"web", "--from", ".", "--env", "1A=x"}, appCreateOptions{}, "invalid variable name"},
		{"env without =", []string{"web", "--from", ".", "--env", "A"}, appCreateOptions{}, "not KEY=VALUE"},
		{"bad name", []string{"Web", "--from", "."}, appCreateOptions{}, "invalid app name"},
		{"stray argument", []string{"web", "extra", "--from", "."}, appCreateOptions{}, `unexpected argument "extra"`},
		{"zero wait", []string{"web", "--from", ".", "--wait-timeout", "0s"}, appCreateOptions{}, "--wait-timeout"},
		{"replicas", []string{"web", "--from", ".", "--replicas", "3"}, with(func(o *appCreateOptions) { o.Replicas = 3 }), ""},
		{"too many replicas", []string{"web", "--from", ".", "--replicas", "101"}, appCreateOptions{}, "--replicas 101"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *appCreateOptions
			cmd := newCmdAppCreate(testGlobals(), func(o *appCreateOptions) error { got = o; return nil })
			err := parse(t, testGlobals(), cmd, tt.args...)
			if tt.wantUsage != "" {
				if !isUsage(err) || got != nil || !strings.Contains(err.Error(), tt.wantUsage) {
					t.Fatalf("err = %v, ran = %v; want a usage error containing %q and no run", err, got != nil, tt.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(appCreateOptions{}, "g"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppArgsAndFlags(t *testing.T) {
	exportAll := cmp.Exporter(func(reflect.Type) bool { return true })
	tests := []struct {
		name      string
		cmd       func(ran *any) *cobra.Command
		args      []string
		want      any
		wantUsage bool
	}{
		{"deploy", func(ran *any) *cobra.Command {
			return newCmdAppDeploy(testGlobals(), func(o *appDeployOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "--from", "src", "--wait-timeout", "1m"}, appDeployOptions{Name: "web", From: "src", WaitTimeout: time.Minute}, false},
		{"deploy without --from", func(ran *any) *cobra.Command {
			return newCmdAppDeploy(testGlobals(), func(o *appDeployOptions) error { *ran = *o; return nil })
		}, []string{"web"}, nil, true},
		{"logs -f -n", func(ran *any) *cobra.Command {
			return newCmdAppLogs(testGlobals(), func(o *appLogsOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"-a", "web", "-f", "-n", "20"}, appLogsOptions{Name: "web", AppFlag: "web", Follow: true, Tail: 20}, false},
		{"logs negative tail", func(ran *any) *cobra.Command {
			return newCmdAppLogs(testGlobals(), func(o *appLogsOptions) error { *ran = *o; return nil })
		}, []string{"web", "--tail", "-1"}, nil, true},
		{"logs without app", func(ran *any) *cobra.Command {
			return newCmdAppLogs(testGlobals(), func(o *appLogsOptions) error { *ran = *o; return nil })
		}, []string{"-f"}, nil, true},
		{"rollback to a release", func(ran *any) *cobra.Command {
			return newCmdAppRollback(testGlobals(), func(o *appRollbackOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "3", "--no-wait"}, appRollbackOptions{Name: "web", Release: 3, NoWait: true, WaitTimeout: defaultWaitTimeout}, false},
		{"rollback with -a and a release", func(ran *any) *cobra.Command {
			return newCmdAppRollback(testGlobals(), func(o *appRollbackOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"-a", "web", "2"}, appRollbackOptions{Name: "web", AppFlag: "web", Release: 2, WaitTimeout: defaultWaitTimeout}, false},
		{"rollback to a non-number", func(ran *any) *cobra.Command {
			return newCmdAppRollback(testGlobals(), func(o *appRollbackOptions) error { *ran = *o; return nil })
		}, []string{"web", "last"}, nil, true},
		{"env set", func(ran *any) *cobra.Command {
			return newCmdAppEnvSet(testGlobals(), func(o *appEnvSetOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"-a", "web", "A=1", "B="}, appEnvSetOptions{Name: "web", AppFlag: "web", Set: map[string]string{"A": "1", "B": ""}}, false},
		{"env set nothing", func(ran *any) *cobra.Command {
			return newCmdAppEnvSet(testGlobals(), func(o *appEnvSetOptions) error { *ran = *o; return nil })
		}, []string{"web"}, nil, true},
		{"env unset", func(ran *any) *cobra.Command {
			return newCmdAppEnvUnset(testGlobals(), func(o *appEnvUnsetOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "A", "B"}, appEnvUnsetOptions{Name: "web", Unset: []string{"A", "B"}}, false},
		{"delete -y", func(ran *any) *cobra.Command {
			return newCmdAppDelete(testGlobals(), func(o *appDeleteOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "-y"}, appDeleteOptions{Name: "web", Yes: true}, false},
		{"info two apps", func(ran *any) *cobra.Command {
			return newCmdAppInfo(testGlobals(), func(o *appInfoOptions) error { *ran = *o; return nil })
		}, []string{"web", "api"}, nil, true},
		{"list --json", func(ran *any) *cobra.Command {
			return newCmdAppList(testGlobals(), func(o *appListOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"--json"}, appListOptions{JSON: true}, false},
		{"releases", func(ran *any) *cobra.Command {
			return newCmdAppReleases(testGlobals(), func(o *appReleasesOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "--json"}, appReleasesOptions{Name: "web", JSON: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran any
			err := parse(t, testGlobals(), tt.cmd(&ran), tt.args...)
			if tt.wantUsage {
				if !isUsage(err) || ran != nil {
					t.Fatalf("err = %v, ran = %v; want a usage error and no run", err, ran)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, ran, exportAll); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"256M", 256 << 20}, {"256m", 256 << 20}, {"512Mi", 512 << 20}, {"512MB", 512 << 20},
		{"1G", 1 << 30}, {"1gi", 1 << 30}, {"1.5G", 3 << 29}, {"64K", 64 << 10}, {"1T", 1 << 40},
		{"268435456", 268435456}, {"100b", 100},
		{"", -1}, {"M", -1}, {"-1G", -1}, {"0", -1}, {"1X", -1}, {"lots", -1}, {"1e30G", -1},
	}
	for _, tt := range tests {
		got, err := parseMemory(tt.in)
		if tt.want < 0 {
			if err == nil {
				t.Errorf("parseMemory(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := readEnvFile(write(`# settings
export DATABASE_URL=postgres://u:p@db/app?sslmode=disable
PLAIN = spaced value   # trailing comment
HASH=abc#def
SINGLE='it''s $HOME # not a comment'
DOUBLE="line1\nline2 \"quoted\" \\ # kept"
EMPTY=

  INDENTED=yes
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DATABASE_URL": "postgres://u:p@db/app?sslmode=disable",
		"PLAIN":        "spaced value",
		"HASH":         "abc#def",
		"SINGLE":       "it",
		"DOUBLE":       "line1\nline2 \"quoted\" \\ # kept",
		"EMPTY":        "",
		"INDENTED":     "yes",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}

	for content, wantErr := range map[string]string{
		"A=1\nnot a pair\n":  ":2: \"not a pair\" is not KEY=VALUE",
		"1BAD=x\n":           ":1: invalid variable name \"1BAD\"",
		"A=\"unterminated\n": ":1: unterminated quote",
	} {
		if _, err := readEnvFile(write(content)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("readEnvFile(%q): err = %v, want %q", content, err, wantErr)
		}
	}
	if _, err := readEnvFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing env file gave no error")
	}
}

func TestAppCreateEnvFileAndFlagsMerge(t *testing.T) {
	m, env := appEnv(t)
	envFile := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(envFile, []byte("A=from-file\nB=file\n"), 0o600)
	r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil), "--env-file", envFile, "--env", "A=from-flag", "--no-wait")
	wantExit(t, r, 0)
	if diff := cmp.Diff(map[string]string{"A": "from-flag", "B": "file"}, m.apps.Creates[0].Env); diff != "" {
		t.Errorf("env sent (-want +got):\n%s", diff)
	}
}
