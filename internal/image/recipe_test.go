package image

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRecipeHash(t *testing.T) {
	base := Recipe{
		Name:        "python3",
		Suite:       "bookworm",
		ExtraSuites: []string{"bookworm-backports"},
		Packages:    []string{"python3", "python3-venv"},
		Files:       []File{{Path: "/etc/x.conf", Mode: 0o644, Content: "a=1\n"}},
		Run:         []string{"rm -rf /var/lib/x"},
		Env:         []string{"A=1"},
		Entrypoint:  []string{"/bin/sh", "-c"},
		Cmd:         []string{"python3"},
		WorkDir:     "/app",
		User:        "app",
	}
	// Every field of Recipe (and File) must change the hash; the count
	// check below fails when a field is added without a row here.
	tests := []struct {
		field  string
		change func(*Recipe)
	}{
		{"Name", func(r *Recipe) { r.Name = "python4" }},
		{"Suite", func(r *Recipe) { r.Suite = "bullseye" }},
		{"ExtraSuites", func(r *Recipe) { r.ExtraSuites = nil }},
		{"Packages", func(r *Recipe) { r.Packages = []string{"python3"} }},
		{"Packages order", func(r *Recipe) { r.Packages = []string{"python3-venv", "python3"} }},
		{"Files", func(r *Recipe) { r.Files = nil }},
		{"File.Path", func(r *Recipe) { r.Files = []File{{Path: "/etc/y.conf", Mode: 0o644, Content: "a=1\n"}} }},
		{"File.Mode", func(r *Recipe) { r.Files = []File{{Path: "/etc/x.conf", Mode: 0o600, Content: "a=1\n"}} }},
		{"File.Content", func(r *Recipe) { r.Files = []File{{Path: "/etc/x.conf", Mode: 0o644, Content: "a=2\n"}} }},
		{"Run", func(r *Recipe) { r.Run = append(r.Run, "true") }},
		{"Env", func(r *Recipe) { r.Env = []string{"A=2"} }},
		{"Entrypoint", func(r *Recipe) { r.Entrypoint = nil }},
		{"Cmd", func(r *Recipe) { r.Cmd = []string{"python3", "-V"} }},
		{"WorkDir", func(r *Recipe) { r.WorkDir = "/srv" }},
		{"User", func(r *Recipe) { r.User = "" }},
		{"Ref", func(r *Recipe) { r.Ref = "127.0.0.1:5000/python:3" }},
		// Moving a word between fields must not collide.
		{"Entrypoint->Cmd", func(r *Recipe) { r.Entrypoint = []string{"/bin/sh"}; r.Cmd = []string{"-c", "python3"} }},
	}
	if n := reflect.TypeOf(Recipe{}).NumField() + reflect.TypeOf(File{}).NumField() - 1; len(tests) < n {
		t.Fatalf("%d rows cover fewer than the %d fields of Recipe and File", len(tests), n)
	}
	h0 := base.Hash()
	if len(h0) != 64 {
		t.Fatalf("Hash() = %q, want 64 hex digits", h0)
	}
	seen := map[string]string{h0: "base"}
	for _, tt := range tests {
		r := base
		r.Files = append([]File(nil), base.Files...)
		tt.change(&r)
		h := r.Hash()
		if h == h0 {
			t.Errorf("changing %s does not change the hash", tt.field)
		}
		if prev, ok := seen[h]; ok && h != h0 {
			t.Errorf("changing %s gives the same hash as %s", tt.field, prev)
		}
		seen[h] = tt.field
	}

	// Stable: the same content always hashes the same, in every process.
	same := base
	same.Packages = append([]string(nil), base.Packages...)
	if same.Hash() != h0 {
		t.Error("equal recipes hash differently")
	}
	const golden = "5d1d49ef392a024a63d001c73364b972c7ad6197e60a4e1f12f8f9b5aba64ea5"
	if h0 != golden {
		t.Errorf("Hash() = %s, want %s (changed hashes rebuild every cached image; bump buildFormat on purpose only)", h0, golden)
	}
	defaulted := base
	defaulted.Suite = ""
	if defaulted.Hash() != h0 {
		t.Error("an empty Suite hashes differently from the default suite")
	}
}

func TestRecipeImageName(t *testing.T) {
	r := Recipe{Name: "redis", Packages: []string{"redis-server"}}
	tests := []struct {
		r    Recipe
		want string
	}{
		{r, "gasper.local/runtime/redis:" + r.Hash()[:12]},
		{Recipe{Name: "x", Ref: "redis:7"}, "docker.io/library/redis:7"},
		{Recipe{Name: "x", Ref: "127.0.0.1:5000/a/b:v1"}, "127.0.0.1:5000/a/b:v1"},
	}
	for _, tt := range tests {
		if got := tt.r.ImageName(); got != tt.want {
			t.Errorf("ImageName(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestRecipeValidate(t *testing.T) {
	tests := []struct {
		r  Recipe
		ok bool
	}{
		{Recipe{Name: "python3", Packages: []string{"python3", "libc6:amd64", "golang-1.23-go"}}, true},
		{Recipe{Name: "Python"}, false},
		{Recipe{Name: "a b"}, false},
		{Recipe{Name: "ok", Packages: []string{"x; rm -rf /"}}, false},
		{Recipe{Name: "ok", Suite: "../etc"}, false},
		{Recipe{Name: "ok", Files: []File{{Path: "relative"}}}, false},
		{Recipe{Name: "ok", Files: []File{{Path: "/a/../b"}}}, false},
		{Recipe{Ref: "127.0.0.1:5000/x:1"}, true},
	}
	for _, tt := range tests {
		if err := tt.r.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.r, err, tt.ok)
		}
	}
}

func TestExtraSources(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, dir+"/etc/apt/sources.list", "deb http://mirror.invalid/debian bookworm main\ndeb [arch=amd64] http://m2.invalid/d bookworm main contrib\n# deb http://x bookworm main\n")
	got, err := extraSources(dir, "bookworm", []string{"bookworm-backports"})
	if err != nil {
		t.Fatal(err)
	}
	want := "deb http://mirror.invalid/debian bookworm-backports main\ndeb [arch=amd64] http://m2.invalid/d bookworm-backports main contrib\n"
	if got != want {
		t.Errorf("extraSources = %q, want %q", got, want)
	}
	if _, err := extraSources(dir, "bullseye", []string{"bullseye-backports"}); err == nil {
		t.Error("extraSources found a source for a suite the base lacks")
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
