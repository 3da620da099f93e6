package rootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tree makes DIR/outside/secret and a root DIR/root with files and links
// that try every way out, and returns the two directories.
func tree(t *testing.T) (root, outside string) {
	t.Helper()
	dir := t.TempDir()
	root, outside = filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{outside, filepath.Join(root, "etc"), filepath.Join(root, "app")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret"), "host secret\n")
	write(filepath.Join(root, "etc", "passwd"), "container passwd\n")
	links := map[string]string{
		"abs":     "/etc/passwd",                           // absolute: the container's own file
		"up":      "../outside/secret",                     // climbs past the top
		"deep":    "/../../../../outside/secret",           // absolute and climbing
		"hostabs": filepath.Join(outside, "secret"),        // the host's path spelled out
		"proc":    "/proc/self/root" + outside + "/secret", // a magic link on the host
		"dirlink": filepath.Dir(outside),                   // a host directory
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, "app", name)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func open(t *testing.T, dir string) *Root {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReadsStayInside(t *testing.T) {
	root, _ := tree(t)
	r := open(t, root)
	tests := []struct {
		name, want string
		notExist   bool
	}{
		{"/etc/passwd", "container passwd\n", false},
		{"etc/passwd", "container passwd\n", false},
		{"/app/abs", "container passwd\n", false},
		{"/../../etc/passwd", "container passwd\n", false},
		{"/app/up", "", true},
		{"/app/deep", "", true},
		{"/app/hostabs", "", true},
		{"/app/proc", "", true},
		{"/app/dirlink/outside/secret", "", true},
		{"../outside/secret", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := r.OpenFile(tt.name, os.O_RDONLY, 0)
			if tt.notExist {
				if err == nil {
					b, _ := io.ReadAll(f)
					f.Close()
					t.Fatalf("opened %s and read %q: it must not exist inside the root", tt.name, b)
				}
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("open %s = %v, want not exist", tt.name, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			if string(b) != tt.want {
				t.Fatalf("read %s = %q, want %q", tt.name, b, tt.want)
			}
		})
	}
}

func TestWritesStayInside(t *testing.T) {
	root, outside := tree(t)
	r := open(t, root)
	secret := filepath.Join(outside, "secret")
	before, _ := os.Stat(secret)

	// Writing through a link to an absolute path writes the container's file.
	f, err := r.OpenFile("/app/abs", os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("changed\n")
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(root, "etc", "passwd")); string(b) != "changed\n" {
		t.Errorf("root's /etc/passwd = %q after writing through /app/abs", b)
	}
	// Creating through a link that points outside creates nothing outside.
	if f, err := r.OpenFile("/app/up", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err == nil {
		f.Close()
	}
	for _, op := range []func() error{
		func() error { return r.Chmod("/app/hostabs", 0o777) },
		func() error { return r.Chmod("/app/proc", 0o777) },
		func() error { return r.Chown("/app/deep", 1234, 1234) },
		func() error { return r.Truncate("/app/up", 0) },
		func() error { return r.Chtimes("/app/hostabs", time.Unix(0, 0), time.Unix(0, 0)) },
		func() error { return r.Rename("/etc/passwd", "/app/dirlink/outside/moved", true) },
		func() error { return r.Link("/app/dirlink/outside/secret", "/app/stolen") },
		func() error { return r.Remove("/app/dirlink/outside/secret") },
		func() error { return r.Mkdir("/app/dirlink/outside/made", 0o755) },
	} {
		if err := op(); err == nil {
			t.Errorf("an operation through a link out of the root succeeded")
		}
	}
	after, err := os.Stat(secret)
	if err != nil || after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Errorf("the host's secret changed: %v %v -> %v", before, err, after)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("outside holds %d entries, want only the secret", len(entries))
	}
	if err := r.Remove("/"); err == nil {
		t.Error("removing the top succeeded")
	}
}

func TestOperations(t *testing.T) {
	root, _ := tree(t)
	r := open(t, root)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Mkdir("/data", 0o750))
	f, err := r.OpenFile("/data/a.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	must(err)
	f.WriteString("hello world")
	f.Close()
	if _, err := r.OpenFile("/data/a.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive create of an existing file = %v, want exist", err)
	}
	must(r.Truncate("/data/a.txt", 5))
	must(r.Chmod("/data/a.txt", 0o640))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(r.Chtimes("/data/a.txt", mtime, mtime))
	fi, err := r.Stat("/data/a.txt")
	must(err)
	if fi.Name() != "a.txt" || fi.Size() != 5 || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
		t.Errorf("stat = %s %d %v %v", fi.Name(), fi.Size(), fi.Mode(), fi.ModTime())
	}
	must(r.Symlink("a.txt", "/data/l"))
	if target, err := r.Readlink("/data/l"); err != nil || target != "a.txt" {
		t.Errorf("readlink = %q, %v", target, err)
	}
	if fi, err := r.Lstat("/data/l"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("lstat of a link = %v, %v; want a link", fi, err)
	}
	must(r.Link("/data/a.txt", "/data/hard"))
	if err := r.Rename("/data/hard", "/data/a.txt", false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("rename onto an existing name without replace = %v, want exist", err)
	}
	must(r.Rename("/data/hard", "/data/b.txt", false))
	list, err := r.ReadDir("/data")
	must(err)
	var got []string
	for _, e := range list {
		got = append(got, e.Name()+":"+e.Mode().Type().String())
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"a.txt:----------", "b.txt:----------", "l:L---------"}, got); diff != "" {
		t.Errorf("ReadDir (-want +got):\n%s", diff)
	}
	must(r.Remove("/data/l"))
	must(r.Remove("/data/a.txt"))
	must(r.Remove("/data/b.txt"))
	if err := r.Remove("/data"); err == nil {
		t.Error("Remove of a directory succeeded; it is Rmdir's")
	}
	must(r.Rmdir("/data"))
	if _, err := r.Stat("/data"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat after rmdir = %v", err)
	}
}
