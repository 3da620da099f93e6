package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestDependencyDirection(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to list dependencies with")
	}
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"gasper/cmd/gasper", []string{"github.com/containerd/", "modernc.org/sqlite", "gasper/master", "gasper/agent", "gasper/internal/container", "gasper/internal/image"}},
		{"gasper/cmd/gasper-master", []string{"github.com/containerd/", "gasper/agent", "gasper/internal/container", "gasper/internal/image"}},
		{"gasper/cmd/gasper-agent", []string{"modernc.org/sqlite", "gasper/master"}},
		{"gasper/tui", []string{"gasper/master", "gasper/agent", "gasper/cmd/", "gasper/api/client", "gasper/internal/", "github.com/containerd/", "modernc.org/sqlite"}},
		{"gasper/api", []string{"gasper/", "github.com/"}},
		{"gasper/proto", []string{"gasper/", "github.com/"}},
		{"gasper/internal/jointoken", []string{"gasper/", "github.com/"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			out, err := exec.Command(goBin, "list", "-deps", tt.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == tt.pkg {
					continue
				}
				for _, f := range tt.forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s links %s", tt.pkg, dep)
					}
				}
			}
		})
	}
}
