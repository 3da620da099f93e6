package archive

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Limits bound what an archive may hold once unpacked, so a small upload
// cannot fill a disk (a "zip bomb").
type Limits struct {
	MaxFiles int   // entries
	MaxBytes int64 // total size of regular files
}

// DefaultLimits are generous for source trees.
var DefaultLimits = Limits{MaxFiles: 200_000, MaxBytes: 2 << 30}

// ErrUnsafe is wrapped by every error about an entry that is refused.
var ErrUnsafe = errors.New("unsafe archive entry")

// Walk reads a gzip'd tar from r and calls fn for every entry after checking
// it; fn may read the entry's content from tr. It stops at the first error.
func Walk(r io.Reader, lim Limits, fn func(h *tar.Header, tr *tar.Reader) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("source archive is not gzip'd: %w", err)
	}
	tr := tar.NewReader(zr)
	files, total := 0, int64(0)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("source archive is not a valid tar: %w", err)
		}
		if err := check(h); err != nil {
			return err
		}
		files++
		total += h.Size
		if files > lim.MaxFiles {
			return fmt.Errorf("source archive has more than %d entries: add a .gasperignore", lim.MaxFiles)
		}
		if total > lim.MaxBytes {
			return fmt.Errorf("source archive unpacks to more than %d MiB: add a .gasperignore", lim.MaxBytes>>20)
		}
		if fn != nil {
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	}
}

// check refuses entries that could escape the extraction directory.
func check(h *tar.Header) error {
	name := h.Name
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return fmt.Errorf("%w: %q: paths must be relative", ErrUnsafe, name)
	}
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if part == ".." {
			return fmt.Errorf("%w: %q: paths must not contain ..", ErrUnsafe, name)
		}
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink:
		target := h.Linkname
		if path.IsAbs(target) {
			return fmt.Errorf("%w: %q is a link to the absolute path %q", ErrUnsafe, name, target)
		}
		if resolved := path.Join(path.Dir(path.Clean(name)), target); resolved == ".." || strings.HasPrefix(resolved, "../") {
			return fmt.Errorf("%w: %q is a link to %q, outside the source tree", ErrUnsafe, name, target)
		}
	case tar.TypeXGlobalHeader:
	default:
		return fmt.Errorf("%w: %q is a %s; only files, directories and links inside the tree are allowed",
			ErrUnsafe, name, typeName(h.Typeflag))
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}

// Check reads a whole archive and reports the first problem.
func Check(r io.Reader, lim Limits) error { return Walk(r, lim, nil) }

// Extract unpacks a gzip'd tar into dir (which must exist). Besides the
// checks of Walk, it refuses to write through a link an earlier entry made.
func Extract(r io.Reader, dir string, lim Limits) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open extraction dir: %w", err)
	}
	defer root.Close()
	return Walk(r, lim, func(h *tar.Header, tr *tar.Reader) error {
		name := path.Clean(h.Name)
		if name == "." {
			return nil
		}
		if err := mkdirAll(root, path.Dir(name)); err != nil {
			return fmt.Errorf("extract %s: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := mkdirAll(root, name); err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
		case tar.TypeReg:
			// os.Root refuses paths that leave dir, through links too.
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fs.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract %s: %w", h.Name, err)
			}
		}
		return nil
	})
}

func mkdirAll(root *os.Root, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if fi, err := root.Lstat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a directory", ErrUnsafe, dir)
		}
		return nil
	}
	if err := mkdirAll(root, path.Dir(dir)); err != nil {
		return err
	}
	if err := root.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// Pack writes dir as a gzip'd tar to w, in a stable order with zeroed times
// and owners, so the same tree always packs to the same bytes. skip, if not
// nil, is asked about every path (slash-separated, relative to dir).
func Pack(dir string, w io.Writer, skip func(rel string, d fs.DirEntry) bool) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	sort.Strings(paths)
	for _, rel := range paths {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()), Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, rel+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		default:
			continue // sockets, devices: not source
		}
		if err := check(h); err != nil {
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, h.Size)
			f.Close()
			if err != nil {
				return fmt.Errorf("pack %s: %w", rel, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}
