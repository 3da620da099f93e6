package runtimes

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
)

func TestNamesMatchAPI(t *testing.T) {
	var got []string
	for _, rt := range All() {
		got = append(got, rt.Name)
	}
	if diff := cmp.Diff(api.Runtimes, got); diff != "" {
		t.Errorf("runtime names differ from api.Runtimes (-api +runtimes):\n%s", diff)
	}
	for _, name := range api.Runtimes {
		if rt, ok := Get(name); !ok || rt.Name != name {
			t.Errorf("Get(%q) = %q, %v", name, rt.Name, ok)
		}
	}
	if _, ok := Get("cobol"); ok {
		t.Error("Get(cobol) found a runtime")
	}
}

func TestRuntimesAreComplete(t *testing.T) {
	suites := []string{"", "bookworm", "bullseye"}
	extra := []string{"bookworm-backports", "bookworm-updates"}
	priorities := map[int]string{}
	for _, rt := range All() {
		t.Run(rt.Name, func(t *testing.T) {
			r := rt.Recipe
			if err := r.Validate(); err != nil {
				t.Errorf("recipe invalid: %v", err)
			}
			if r.Name != rt.Name {
				t.Errorf("recipe name %q, want %q", r.Name, rt.Name)
			}
			if r.Ref != "" {
				t.Errorf("recipe pulls %q: no registry is reachable, runtimes must build from packages", r.Ref)
			}
			if !slices.Contains(suites, r.Suite) {
				t.Errorf("suite %q not one of %q", r.Suite, suites)
			}
			for _, s := range r.ExtraSuites {
				if !slices.Contains(extra, s) {
					t.Errorf("extra suite %q not one of %q", s, extra)
				}
			}
			if len(r.Packages) == 0 {
				t.Error("recipe installs no packages")
			}
			if len(rt.Markers) == 0 {
				t.Error("no markers: the runtime can never be detected")
			}
			if rt.Port <= 0 || rt.Port > 65535 {
				t.Errorf("port %d", rt.Port)
			}
			if rt.StartCmd == "" {
				t.Error("no start command")
			}
			if other, dup := priorities[rt.Priority]; dup {
				t.Errorf("priority %d shared with %s: detection order would be ambiguous", rt.Priority, other)
			}
			priorities[rt.Priority] = rt.Name
			for _, kv := range rt.Env {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					t.Errorf("env entry %q is not KEY=VALUE", kv)
				}
			}
		})
	}
}

// TestShellSyntax parses every command and script a runtime runs with the
// shell images use (dash, as /bin/sh on Debian), so a typo fails here and
// not in a user's build.
func TestShellSyntax(t *testing.T) {
	sh, err := exec.LookPath("dash")
	if err != nil {
		sh = "/bin/sh"
	}
	for _, rt := range All() {
		scripts := map[string]string{"build": rt.BuildCmd, "start": rt.StartCmd}
		for _, f := range rt.Recipe.Files {
			if f.Mode&0o111 != 0 && strings.HasPrefix(f.Content, "#!/bin/sh") {
				scripts[f.Path] = f.Content
			}
		}
		for _, c := range rt.Recipe.Run {
			scripts["run "+c] = c
		}
		for what, s := range scripts {
			if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", rt.Name, what, err, out)
			}
		}
	}
}

func TestDetectExamples(t *testing.T) {
	for _, name := range api.Runtimes {
		t.Run(name, func(t *testing.T) {
			rt, err := Detect(filepath.Join("..", "examples", name))
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if rt.Name != name {
				t.Errorf("examples/%s detected as %s", name, rt.Name)
			}
		})
	}
}

// writeTree makes a source tree with the given files (path -> content).
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDetectPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"php over static", map[string]string{"index.php": "<?php", "index.html": "x"}, "php"},
		{"laravel: composer and npm", map[string]string{"composer.json": "{}", "package.json": "{}"}, "php"},
		{"python over its asset tooling", map[string]string{"requirements.txt": "", "package.json": "{}"}, "python3"},
		{"runtime.txt asks for python 2", map[string]string{"requirements.txt": "", "runtime.txt": "python-2.7.18\n"}, "python2"},
		{".python-version asks for python 2", map[string]string{"app.py": "", ".python-version": "2.7.18"}, "python2"},
		{"runtime.txt asks for python 3", map[string]string{"runtime.txt": "python-3.11.2", "app.py": ""}, "python3"},
		{"python 2 is not python 22", map[string]string{"runtime.txt": "python-22.0"}, "python3"},
		{"go with a frontend", map[string]string{"go.mod": "module x", "package.json": "{}", "index.html": ""}, "golang"},
		{"rails app", map[string]string{"Gemfile": "", "config.ru": "", "package.json": "{}"}, "ruby"},
		{"rust", map[string]string{"Cargo.toml": ""}, "rust"},
		{"node with an index page", map[string]string{"package.json": "{}", "index.html": ""}, "nodejs"},
		{"bare server.js", map[string]string{"server.js": ""}, "nodejs"},
		{"static site with a browser script", map[string]string{"index.html": "", "index.js": ""}, "static"},
		{"index.htm", map[string]string{"index.htm": ""}, "static"},
		{"marker in a subdirectory does not count", map[string]string{"web/index.php": "", "index.html": ""}, "static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := Detect(writeTree(t, tt.files))
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if rt.Name != tt.want {
				t.Errorf("detected %s, want %s", rt.Name, tt.want)
			}
		})
	}
}

func TestDetectNothing(t *testing.T) {
	// A directory named like a marker is not a marker.
	dir := writeTree(t, map[string]string{"README.md": "hi", "package.json/x": ""})
	_, err := Detect(dir)
	if !errors.Is(err, ErrUndetected) {
		t.Fatalf("Detect = %v, want ErrUndetected", err)
	}
	msg := err.Error()
	for _, want := range []string{"cannot tell the runtime of this app", "package.json", "requirements.txt", "go.mod", "Cargo.toml", "index.php", "index.html", "--runtime"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if _, err := Detect(filepath.Join(dir, "missing")); err == nil || errors.Is(err, ErrUndetected) {
		t.Errorf("Detect(missing dir) = %v, want a plain error", err)
	}
}

func TestStartCommand(t *testing.T) {
	py, _ := Get("python3")
	tests := []struct {
		name     string
		procfile string // "" means no Procfile
		want     string
	}{
		{"no Procfile", "", py.StartCmd},
		{"web line", "web: python -m gunicorn app:app --bind 0.0.0.0:$PORT\n", "python -m gunicorn app:app --bind 0.0.0.0:$PORT"},
		{"web among others", "# processes\nworker: python worker.py\nweb:python app.py  \nrelease: ./migrate\n", "python app.py"},
		{"no web line", "worker: python worker.py\n", py.StartCmd},
		{"empty web line", "web:\n", py.StartCmd},
		{"webhook is not web", "webhook: python hook.py\n", py.StartCmd},
		{"CRLF line endings", "web: python app.py\r\n", "python app.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"app.py": ""}
			if tt.procfile != "" {
				files["Procfile"] = tt.procfile
			}
			if got := StartCommand(py, writeTree(t, files)); got != tt.want {
				t.Errorf("StartCommand = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAllReturnsCopies(t *testing.T) {
	a := All()
	a[0].Env[0] = "CHANGED=1"
	a[0].Recipe.Packages[0] = "changed"
	b := All()
	if b[0].Env[0] == "CHANGED=1" || b[0].Recipe.Packages[0] == "changed" {
		t.Error("changing All's result changed the next call's")
	}
}
