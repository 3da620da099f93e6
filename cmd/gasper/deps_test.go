package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps fails if the CLI starts linking what only the daemons may:
// containerd, SQLite, or the master and agent packages themselves.
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "gasper/cmd/gasper").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/containerd/", "modernc.org/sqlite", "gasper/master", "gasper/agent", "gasper/internal/container"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("gasper links %s", dep)
			}
		}
	}
}
