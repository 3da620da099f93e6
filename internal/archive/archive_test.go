package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, link, body string
	typ              byte
}

func build(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		es   []entry
		want string
	}{
		{"dotdot", []entry{{name: "../evil", body: "x"}}, ".."},
		{"nested dotdot", []entry{{name: "a/../../evil", body: "x"}}, ".."},
		{"absolute", []entry{{name: "/etc/passwd", body: "x"}}, "relative"},
		{"absolute link", []entry{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, "absolute"},
		{"link outside", []entry{{name: "a/l", link: "../../x", typ: tar.TypeSymlink}}, "outside"},
		{"hard link", []entry{{name: "h", link: "x", typ: tar.TypeLink}}, "hard link"},
		{"device", []entry{{name: "d", typ: tar.TypeChar}}, "device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(bytes.NewReader(build(t, tt.es...)), DefaultLimits)
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want unsafe mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	a := build(t, entry{name: "a", body: "12345"}, entry{name: "b", body: "12345"})
	if err := Check(bytes.NewReader(a), Limits{MaxFiles: 1, MaxBytes: 100}); err == nil || !strings.Contains(err.Error(), "entries") {
		t.Fatalf("file limit: %v", err)
	}
	if err := Check(bytes.NewReader(a), Limits{MaxFiles: 10, MaxBytes: 8}); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("size limit: %v", err)
	}
	if err := Check(strings.NewReader("not gzip"), DefaultLimits); err == nil {
		t.Fatal("garbage accepted")
	}
}

// A link inside the tree is fine, but writing through it must not escape,
// even when the link's own target is inside (it may later be replaced).
func TestExtractDoesNotFollowLinksOut(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	os.Symlink(outside, filepath.Join(dir, "escape")) // planted before extraction
	a := build(t, entry{name: "escape/pwned", body: "x"})
	if err := Extract(bytes.NewReader(a), dir, DefaultLimits); err == nil {
		t.Fatal("extracted through a link pointing outside")
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Fatal("file written outside the extraction dir")
	}
}

func TestPackExtractRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub", ".git"), 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "run.sh"), []byte("#!/bin/sh"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", ".git", "HEAD"), []byte("ref"), 0o644)
	os.Symlink("index.html", filepath.Join(src, "link"))
	skipGit := func(rel string, d fs.DirEntry) bool { return d.IsDir() && d.Name() == ".git" }
	var a, b bytes.Buffer
	if err := Pack(src, &a, skipGit); err != nil {
		t.Fatal(err)
	}
	Pack(src, &b, skipGit)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("packing the same tree twice gave different bytes")
	}
	dst := t.TempDir()
	if err := Extract(bytes.NewReader(a.Bytes()), dst, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "link")); string(got) != "hello" {
		t.Fatalf("link content %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "sub", "run.sh")); fi == nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatal("executable bit lost")
	}
	if _, err := os.Stat(filepath.Join(dst, "sub", ".git")); err == nil {
		t.Fatal("skipped dir was packed")
	}
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(src, "out"))
	if err := Pack(src, &bytes.Buffer{}, nil); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("packing a link to outside: %v", err)
	}
}
