package main

import (
	"strings"
	"testing"
)

// Bad database names and engines are refused before any request (no master is configured here,
// so a request would fail differently), with exit code 2 and a message naming the problem.
func TestDBArgumentsCheckedFirst(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"db", "create", "postgresql", "x'; DROP TABLE users; --"}, "invalid database name"},
		{[]string{"db", "create", "postgresql", "$(touch /tmp/pwned)"}, "invalid database name"},
		{[]string{"db", "create", "postgresql", strings.Repeat("a", 61)}, "too long"},
		{[]string{"db", "create", "oracle", "x"}, "mysql, postgresql, redis, mongodb"},
		{[]string{"db", "create", "redis", "x", "--memory", "lots"}, "--memory"},
		{[]string{"db", "info", "Bad_Name"}, "invalid database name"},
		{[]string{"db", "link", "good", "Bad App"}, "invalid app name"},
		{[]string{"db", "restore", "good"}, "missing --backup"},
		{[]string{"db", "restore", "good", "--backup", "b-1", "--into", "no way"}, "invalid database name"},
		{[]string{"db", "delete", "good"}, "without --yes"},
		{[]string{"db", "create", "redis"}, "NAME"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := invocation{env: map[string]string{}}.run(t, tt.args...)
			wantExit(t, r, 2)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.want)
			}
		})
	}
}
