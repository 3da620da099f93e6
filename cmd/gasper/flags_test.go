package main

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"

	"gasper/cmd/gasper/internal/iostreams"
)

// These tests parse flags and arguments only: the run function is replaced,
// so nothing talks to a master.

// parse runs cmd with args under a root that has the persistent flags, as
// the real root does, and returns the error of parsing.
func parse(t *testing.T, g *globalOptions, cmd *cobra.Command, args ...string) error {
	t.Helper()
	root := &cobra.Command{Use: "gasper", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	root.PersistentFlags().StringVar(&g.master, "master", "", "")
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.Execute()
}

func testGlobals() *globalOptions {
	s, _, _, _ := iostreams.Test()
	return &globalOptions{io: s, getenv: func(string) string { return "" }, now: time.Now}
}

// isUsage reports whether err is a usage error (exit code 2).
func isUsage(err error) bool {
	var ce *cliError
	return errors.As(err, &ce) && ce.code == exitUsage
}

var ignoreGlobals = cmpopts.IgnoreFields(nodeTokenOptions{}, "g")

func TestNodeTokenFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		want      nodeTokenOptions
		wantUsage bool
	}{
		{"defaults", nil,
			nodeTokenOptions{TTL: time.Hour, Roles: []string{"app", "db", "proxy", "dns", "ssh"}, StateDir: "/var/lib/gasper/agent"}, false},
		{"all flags", []string{"--ttl", "15m", "--roles", "app,db", "--advertise", "127.0.0.5", "--state-dir", "/srv/a", "--json"},
			nodeTokenOptions{TTL: 15 * time.Minute, Roles: []string{"app", "db"}, Advertise: "127.0.0.5", StateDir: "/srv/a", JSON: true}, false},
		{"bad ttl", []string{"--ttl", "soon"}, nodeTokenOptions{}, true},
		{"negative ttl", []string{"--ttl", "-1h"}, nodeTokenOptions{}, true},
		{"unknown role", []string{"--roles", "app,web"}, nodeTokenOptions{}, true},
		{"stray argument", []string{"extra"}, nodeTokenOptions{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *nodeTokenOptions
			cmd := newCmdNodeToken(testGlobals(), func(o *nodeTokenOptions) error { got = o; return nil })
			err := parse(t, testGlobals(), cmd, tt.args...)
			if tt.wantUsage {
				if !isUsage(err) || got != nil {
					t.Fatalf("err = %v, ran = %v; want a usage error and no run", err, got != nil)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, *got, ignoreGlobals, cmp.AllowUnexported(nodeTokenOptions{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArgsAndFlags(t *testing.T) {
	tests := []struct {
		name      string
		cmd       func(ran *any) *cobra.Command
		args      []string
		want      any
		wantUsage bool
	}{
		{"user create", func(ran *any) *cobra.Command {
			return newCmdUserCreate(testGlobals(), func(o *userCreateOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"e@x", "--admin", "--password-stdin"}, userCreateOptions{Email: "e@x", Admin: true, PasswordStdin: true}, false},
		{"user create without email", func(ran *any) *cobra.Command {
			return newCmdUserCreate(testGlobals(), func(o *userCreateOptions) error { *ran = *o; return nil })
		}, []string{"--admin"}, nil, true},
		{"node remove -y", func(ran *any) *cobra.Command {
			return newCmdNodeRemove(testGlobals(), func(o *nodeRemoveOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"n1", "-y"}, nodeRemoveOptions{Node: "n1", Yes: true}, false},
		{"node remove two nodes", func(ran *any) *cobra.Command {
			return newCmdNodeRemove(testGlobals(), func(o *nodeRemoveOptions) error { *ran = *o; return nil })
		}, []string{"n1", "n2"}, nil, true},
		{"token create ttl", func(ran *any) *cobra.Command {
			return newCmdTokenCreate(testGlobals(), func(o *tokenCreateOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"ci", "--ttl", "24h"}, tokenCreateOptions{Name: "ci", TTL: 24 * time.Hour}, false},
		{"token create default ttl", func(ran *any) *cobra.Command {
			return newCmdTokenCreate(testGlobals(), func(o *tokenCreateOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"ci", "--json"}, tokenCreateOptions{Name: "ci", TTL: 720 * time.Hour, JSON: true}, false},
		{"login flags", func(ran *any) *cobra.Command {
			return newCmdLogin(testGlobals(), func(o *loginOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"--email", "e@x", "--password-stdin"}, loginOptions{Email: "e@x", PasswordStdin: true}, false},
		{"login unknown flag", func(ran *any) *cobra.Command {
			return newCmdLogin(testGlobals(), func(o *loginOptions) error { *ran = *o; return nil })
		}, []string{"--password", "x"}, nil, true},
		{"whoami json", func(ran *any) *cobra.Command {
			return newCmdWhoAmI(testGlobals(), func(o *whoAmIOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"--json"}, whoAmIOptions{JSON: true}, false},
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
			if diff := cmp.Diff(tt.want, ran, cmp.Exporter(func(reflect.Type) bool { return true })); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsageExitCodes(t *testing.T) {
	tests := [][]string{
		{"node", "lsit"},
		{"bogus"},
		{"whoami", "--nope"},
		{"node", "info"},
		{"user", "grant-admin"},
		{"token", "revoke", "a", "b"},
	}
	for _, args := range tests {
		r := invocation{env: newEnv(t)}.run(t, args...)
		if r.code != exitUsage || r.stdout != "" {
			t.Errorf("gasper %v: exit %d, stdout %q; want exit 2 and no output", args, r.code, r.stdout)
		}
	}
	r := invocation{env: newEnv(t)}.run(t, "completion", "bash")
	if r.code != 0 || !bytes.Contains([]byte(r.stdout), []byte("__start_gasper")) {
		t.Errorf("completion bash: exit %d, stdout starts %.80q", r.code, r.stdout)
	}
	r = invocation{env: newEnv(t)}.run(t, "--help")
	if r.code != 0 || !bytes.Contains([]byte(r.stdout), []byte("6  master unreachable")) {
		t.Errorf("--help: exit %d, stdout %q; want the exit codes", r.code, r.stdout)
	}
}
