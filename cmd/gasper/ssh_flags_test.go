package main

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// Parsing only: the run functions are replaced, nothing talks to a master.
func TestSSHCommandsArgsAndFlags(t *testing.T) {
	exportAll := cmp.Exporter(func(reflect.Type) bool { return true })
	tty := testGlobals()
	tty.io.SetStdinTTY(true)
	tests := []struct {
		name      string
		cmd       func(ran *any) *cobra.Command
		args      []string
		want      any
		wantUsage bool
	}{
		{"exec", func(ran *any) *cobra.Command {
			return newCmdAppExec(testGlobals(), func(o *appExecOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "--instance", "2", "--", "ls", "-la", "/app"}, appExecOptions{Name: "web", Args: []string{"ls", "-la", "/app"}, Instance: 2}, false},
		{"exec -a", func(ran *any) *cobra.Command {
			return newCmdAppExec(testGlobals(), func(o *appExecOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"-a", "web", "--", "true"}, appExecOptions{Name: "web", AppFlag: "web", Args: []string{"true"}}, false},
		{"exec without a command", func(ran *any) *cobra.Command {
			return newCmdAppExec(testGlobals(), func(o *appExecOptions) error { *ran = *o; return nil })
		}, []string{"web"}, nil, true},
		{"exec -t without a terminal", func(ran *any) *cobra.Command {
			return newCmdAppExec(testGlobals(), func(o *appExecOptions) error { *ran = *o; return nil })
		}, []string{"web", "-t", "--", "top"}, nil, true},
		{"exec -t on a terminal", func(ran *any) *cobra.Command {
			return newCmdAppExec(tty, func(o *appExecOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "-t", "--", "top"}, appExecOptions{Name: "web", Args: []string{"top"}, TTY: true}, false},
		{"shell without a terminal", func(ran *any) *cobra.Command {
			return newCmdAppShell(testGlobals(), func(o *appShellOptions) error { *ran = *o; return nil })
		}, []string{"web"}, nil, true},
		{"shell", func(ran *any) *cobra.Command {
			return newCmdAppShell(tty, func(o *appShellOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "--instance", "1"}, appShellOptions{Name: "web", Instance: 1}, false},
		{"app ssh settings", func(ran *any) *cobra.Command {
			return newCmdAppSSH(testGlobals(), func(o *appSSHOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"web", "--password-stdin", "--push-branch", "prod", "--json"}, appSSHOptions{Name: "web", PasswordStdin: true, PushBranch: "prod", JSON: true}, false},
		{"app ssh set and clear", func(ran *any) *cobra.Command {
			return newCmdAppSSH(testGlobals(), func(o *appSSHOptions) error { *ran = *o; return nil })
		}, []string{"web", "--password-stdin", "--clear-password"}, nil, true},
		{"ssh-key add", func(ran *any) *cobra.Command {
			return newCmdSSHKeyAdd(testGlobals(), func(o *sshKeyAddOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"key.pub", "--name", "laptop"}, sshKeyAddOptions{File: "key.pub", Name: "laptop"}, false},
		{"ssh-key add two files", func(ran *any) *cobra.Command {
			return newCmdSSHKeyAdd(testGlobals(), func(o *sshKeyAddOptions) error { *ran = *o; return nil })
		}, []string{"a.pub", "b.pub"}, nil, true},
		{"ssh-key remove", func(ran *any) *cobra.Command {
			return newCmdSSHKeyRemove(testGlobals(), func(o *sshKeyRemoveOptions) error { o.g = nil; *ran = *o; return nil })
		}, []string{"laptop"}, sshKeyRemoveOptions{Key: "laptop"}, false},
		{"ssh-key remove nothing", func(ran *any) *cobra.Command {
			return newCmdSSHKeyRemove(testGlobals(), func(o *sshKeyRemoveOptions) error { *ran = *o; return nil })
		}, nil, nil, true},
		{"create --empty", func(ran *any) *cobra.Command {
			return newCmdAppCreate(testGlobals(), func(o *appCreateOptions) error { *ran = o.Empty; return nil })
		}, []string{"web", "--empty"}, true, false},
		{"create --empty --from", func(ran *any) *cobra.Command {
			return newCmdAppCreate(testGlobals(), func(o *appCreateOptions) error { *ran = o.Empty; return nil })
		}, []string{"web", "--empty", "--from", "."}, nil, true},
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
