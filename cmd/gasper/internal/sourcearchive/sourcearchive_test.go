package sourcearchive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/cmd/gasper/internal/sourcearchive"
)

// tree writes files (path -> content; a path ending in "/" is a directory)
// under a new temporary directory and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// paths lists what the archive of dir holds, read back from its bytes.
func paths(t *testing.T, dir string) []string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sourcearchive.Write(&buf, dir, 0); err != nil {
		t.Fatalf("write: %v", err)
	}
	var out []string
	for _, h := range readTar(t, buf.Bytes()) {
		out = append(out, h.Name)
	}
	return out
}

func readTar(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	tr := tar.NewReader(gz)
	var hs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		hs = append(hs, h)
	}
}

func TestIgnoreRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"git is always left out", map[string]string{
			".git/config": "x", "sub/.git": "gitdir: ../.git/modules/sub", "main.go": "",
		}, []string{"main.go", "sub/"}},
		{"patterns, negation and dir-only", map[string]string{
			".gitignore": "*.log\n!keep.log\nbuild/\n# a comment\n\n/root-only.txt\n",
			"a.log":      "", "keep.log": "", "build/out": "", "src/build": "a file named build stays",
			"root-only.txt": "", "src/root-only.txt": "", "src/x.log": "",
		}, []string{".gitignore", "keep.log", "src/", "src/build", "src/root-only.txt"}},
		{"nested .gitignore applies below its directory only", map[string]string{
			"web/.gitignore": "node_modules/\n/dist\n", "web/node_modules/x/index.js": "", "web/dist/app.js": "",
			"web/src/dist/keep.js": "", "web/index.js": "", "node_modules/top.js": "",
		}, []string{"node_modules/", "node_modules/top.js", "web/", "web/.gitignore", "web/index.js",
			"web/src/", "web/src/dist/", "web/src/dist/keep.js"}},
		{"nested negation re-includes", map[string]string{
			".gitignore": "*.env\n", "conf/.gitignore": "!defaults.env\n", "conf/defaults.env": "", "conf/secret.env": "", "prod.env": "",
		}, []string{".gitignore", "conf/", "conf/.gitignore", "conf/defaults.env"}},
		{".gasperignore wins over .gitignore", map[string]string{
			".gitignore": "vendor/\n", ".gasperignore": "!vendor/\n*.md\n", "vendor/lib.go": "", "README.md": "",
		}, []string{".gasperignore", ".gitignore", "vendor/", "vendor/lib.go"}},
		{"double star", map[string]string{
			".gasperignore": "**/testdata/**\ndocs/**/*.png\n", "a/testdata/x": "", "docs/img/a.png": "", "docs/a.md": "",
		}, []string{".gasperignore", "a/", "docs/", "docs/a.md", "docs/img/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := paths(t, tree(t, tt.files))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("archive paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSymlinks(t *testing.T) {
	t.Run("inside are kept", func(t *testing.T) {
		dir := tree(t, map[string]string{"lib/real.txt": "hi", "bin/": ""})
		mustSymlink(t, "../lib/real.txt", filepath.Join(dir, "bin/link"))
		mustSymlink(t, "lib", filepath.Join(dir, "libdir"))
		mustSymlink(t, "missing-but-inside", filepath.Join(dir, "dangling"))
		var buf bytes.Buffer
		s, err := sourcearchive.Write(&buf, dir, 0)
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		links := map[string]string{}
		for _, h := range readTar(t, buf.Bytes()) {
			if h.Typeflag == tar.TypeSymlink {
				links[h.Name] = h.Linkname
			}
		}
		want := map[string]string{"bin/link": "../lib/real.txt", "libdir": "lib", "dangling": "missing-but-inside"}
		if diff := cmp.Diff(want, links); diff != "" {
			t.Errorf("links (-want +got):\n%s", diff)
		}
		if s.Symlinks != 3 || s.Files != 1 || s.Dirs != 2 {
			t.Errorf("summary = %+v, want 3 links, 1 file, 2 dirs", s)
		}
	})

	outside := t.TempDir()
	tests := []struct {
		name, target, link string
	}{
		{"absolute", filepath.Join(outside, "x"), "abs"},
		{"relative up and out", "../../etc/passwd", "sub/up"},
		{"through another link", "hop/..", "sneaky"},
	}
	for _, tt := range tests {
		t.Run("outside refused: "+tt.name, func(t *testing.T) {
			dir := tree(t, map[string]string{"sub/": ""})
			// hop -> "." is harmless alone, but makes "hop/.." (the root
			// by its text) resolve to the root's parent.
			mustSymlink(t, ".", filepath.Join(dir, "hop"))
			mustSymlink(t, tt.target, filepath.Join(dir, filepath.FromSlash(tt.link)))
			_, err := sourcearchive.Write(io.Discard, dir, 0)
			var le *sourcearchive.LinkError
			if !errors.As(err, &le) || le.Path != tt.link {
				t.Fatalf("err = %v, want a LinkError naming %s", err, tt.link)
			}
			if !strings.Contains(err.Error(), tt.link) {
				t.Errorf("message %q does not name the link", err)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministic(t *testing.T) {
	files := map[string]string{"b.txt": "bee", "a/z.txt": "zed", "a/b/c.txt": "see", ".gitignore": "*.tmp\n", "x.tmp": "x"}
	d1, d2 := tree(t, files), tree(t, files)
	// Different times, and a second tree created in another order, must
	// not change a byte.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(filepath.Join(d2, "b.txt"), old, old)
	var b1, b2 bytes.Buffer
	s1, err := sourcearchive.Write(&b1, d1, 0)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := sourcearchive.Write(&b2, d2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) || s1.SHA256 != s2.SHA256 {
		t.Fatalf("two identical trees gave different archives (%s vs %s)", s1.SHA256, s2.SHA256)
	}
	if s1.Size != int64(b1.Len()) || s1.Files != 4 || s1.Dirs != 2 {
		t.Errorf("summary = %+v, want size %d, 4 files, 2 dirs", s1, b1.Len())
	}
	for _, h := range readTar(t, b1.Bytes()) {
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: time %v uid %d gid %d user %q group %q; want all zero", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "./") || strings.Contains("/"+h.Name, "/../") {
			t.Errorf("unsafe path %q", h.Name)
		}
	}
}

func TestModesAndSpecialFiles(t *testing.T) {
	dir := tree(t, map[string]string{"run.sh": "#!/bin/sh\n", "private/": ""})
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	os.Chmod(filepath.Join(dir, "private"), 0o700)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	s, err := sourcearchive.Write(&buf, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]fs.FileMode{}
	for _, h := range readTar(t, buf.Bytes()) {
		modes[h.Name] = fs.FileMode(h.Mode)
	}
	if diff := cmp.Diff(map[string]fs.FileMode{"private/": 0o700, "run.sh": 0o755}, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pipe"}, s.Skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

func TestTooLarge(t *testing.T) {
	dir := tree(t, nil)
	noise := make([]byte, 256<<10) // random: gzip cannot shrink it
	rand.Read(noise)
	if err := os.WriteFile(filepath.Join(dir, "blob"), noise, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := sourcearchive.Write(&buf, dir, 128<<10)
	var tl *sourcearchive.TooLargeError
	if !errors.As(err, &tl) || tl.Max != 128<<10 {
		t.Fatalf("err = %v, want TooLargeError", err)
	}
	if buf.Len() > 128<<10 {
		t.Errorf("wrote %d bytes past the limit", buf.Len())
	}
}

func TestNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := sourcearchive.Write(io.Discard, f, 0); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("err = %v, want not a directory", err)
	}
	if _, err := sourcearchive.Write(io.Discard, filepath.Join(t.TempDir(), "missing"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not exist", err)
	}
}
