package sourcearchive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// MaxSize is the largest archive the master accepts: 200 MiB.
const MaxSize = 200 << 20

// IgnoreFiles are the files whose patterns leave paths out, read in every
// directory in this order, so a .gasperignore pattern wins over a
// .gitignore one in the same directory.
var IgnoreFiles = []string{".gitignore", ".gasperignore"}

// alwaysSkipped are names never packed, wherever they are: a repository's
// history is not source to build.
var alwaysSkipped = map[string]bool{".git": true}

// epoch is the modification time of every entry, so that an archive depends
// only on the tree's contents and not on when files were touched.
var epoch = time.Unix(0, 0).UTC()

// Entry is one path in an archive.
type Entry struct {
	// Path is slash-separated and relative to the packed directory;
	// directories end in "/".
	Path string
	// Mode holds the type bits and the permission bits.
	Mode fs.FileMode
	// Size is a regular file's length.
	Size int64
	// Link is a symbolic link's target, as written in the link.
	Link string
}

// Summary tells what Write packed.
type Summary struct {
	Files, Dirs, Symlinks int
	// Skipped lists special files (sockets, pipes, devices) left out.
	Skipped []string
	// Size is the number of (compressed) bytes written.
	Size int64
	// SHA256 is the hex SHA-256 of the bytes written, which the master
	// names the source by.
	SHA256 string
}

// LinkError is returned for a symbolic link that points outside the packed
// directory or by an absolute path: the master would refuse it, and a
// build must not depend on the machine it was packed on.
type LinkError struct {
	// Path is the link, relative to the packed directory.
	Path string
	// Target is what it points to.
	Target string
}

func (e *LinkError) Error() string {
	if filepath.IsAbs(e.Target) {
		return fmt.Sprintf("symbolic link %s points to the absolute path %s; only relative links inside the directory can be deployed", e.Path, e.Target)
	}
	return fmt.Sprintf("symbolic link %s points outside the directory (to %s)", e.Path, e.Target)
}

// TooLargeError is returned once an archive grows beyond the limit given
// to Write.
type TooLargeError struct {
	// Max is the limit, in bytes.
	Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the source archive is larger than %d MiB", e.Max>>20)
}

// List returns what Write packs from dir, in archive order, and the special
// files it leaves out.
func List(dir string) (entries []Entry, skipped []string, err error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open source directory: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, nil, fmt.Errorf("open source directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("source %s is not a directory", dir)
	}
	w := &walker{root: root}
	if err := w.walk(nil, nil); err != nil {
		return nil, nil, err
	}
	return w.entries, w.skipped, nil
}

// walker collects the entries of one directory tree.
type walker struct {
	root    string
	entries []Entry
	skipped []string
}

// walk adds the entries of the directory at rel (path elements under root),
// with the ignore patterns of its parents; patterns are in increasing
// priority, as gitignore.NewMatcher wants them.
func (w *walker) walk(rel []string, patterns []gitignore.Pattern) error {
	dir := filepath.Join(append([]string{w.root}, rel...)...)
	for _, name := range IgnoreFiles {
		ps, err := readPatterns(filepath.Join(dir, name), rel)
		if err != nil {
			return err
		}
		// A fresh slice: siblings must not see each other's patterns.
		patterns = append(patterns[:len(patterns):len(patterns)], ps...)
	}
	matcher := gitignore.NewMatcher(patterns)

	des, err := os.ReadDir(dir) // sorted by name: the archive order
	if err != nil {
		return fmt.Errorf("read source directory: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if alwaysSkipped[name] {
			continue
		}
		elems := append(rel[:len(rel):len(rel)], name)
		slashPath := path.Join(elems...)
		full := filepath.Join(dir, name)
		info, err := os.Lstat(full)
		if err != nil {
			return fmt.Errorf("read source directory: %w", err)
		}
		mode := info.Mode()
		if matcher.Match(elems, mode.IsDir()) {
			continue
		}
		switch {
		case mode.IsDir():
			w.entries = append(w.entries, Entry{Path: slashPath + "/", Mode: fs.ModeDir | mode.Perm()})
			if err := w.walk(elems, patterns); err != nil {
				return err
			}
		case mode.IsRegular():
			w.entries = append(w.entries, Entry{Path: slashPath, Mode: mode.Perm(), Size: info.Size()})
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return fmt.Errorf("read symbolic link %s: %w", slashPath, err)
			}
			if err := w.checkLink(slashPath, full, target); err != nil {
				return err
			}
			w.entries = append(w.entries, Entry{Path: slashPath, Mode: fs.ModeSymlink | 0o777, Link: filepath.ToSlash(target)})
		default:
			w.skipped = append(w.skipped, slashPath)
		}
	}
	return nil
}

// checkLink refuses a link that is absolute or leads outside the root,
// judged both by its text and, when its target exists, by where it really
// resolves (a link through another link can look inside and not be).
func (w *walker) checkLink(slashPath, full, target string) error {
	if filepath.IsAbs(target) || strings.HasPrefix(target, "/") {
		return &LinkError{Path: slashPath, Target: target}
	}
	resolved := path.Join(path.Dir(slashPath), filepath.ToSlash(target))
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return &LinkError{Path: slashPath, Target: target}
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil // dangling, yet inside by its text: harmless
	}
	if r, err := filepath.Rel(w.root, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return &LinkError{Path: slashPath, Target: target}
	}
	return nil
}

// readPatterns reads one ignore file of the directory at domain; a missing
// file has no patterns.
func readPatterns(file string, domain []string) ([]gitignore.Pattern, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ignore file: %w", err)
	}
	defer f.Close()
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// "\#" and "\!" start patterns that begin with those characters.
		if strings.HasPrefix(line, `\#`) || strings.HasPrefix(line, `\!`) {
			line = line[1:]
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ignore file %s: %w", file, err)
	}
	return ps, nil
}

// Write packs dir into w as a gzip'd tar and returns what it packed. With
// max > 0 it stops with a *TooLargeError as soon as the archive would
// exceed max bytes. It returns a *LinkError, before writing anything, for a
// symbolic link it must not pack.
func Write(w io.Writer, dir string, max int64) (Summary, error) {
	entries, skipped, err := List(dir)
	if err != nil {
		return Summary{}, err
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Summary{}, fmt.Errorf("open source directory: %w", err)
	}
	cw := &countingWriter{w: w, max: max, sum: sha256.New()}
	// gzip's header carries no name and a zero time unless told otherwise,
	// which keeps the bytes reproducible.
	gz := gzip.NewWriter(cw)
	tw := tar.NewWriter(gz)
	s := Summary{Skipped: skipped}
	for _, e := range entries {
		if err := writeEntry(tw, root, e); err != nil {
			return Summary{}, cw.explain(err)
		}
		switch {
		case e.Mode.IsDir():
			s.Dirs++
		case e.Mode&fs.ModeSymlink != 0:
			s.Symlinks++
		default:
			s.Files++
		}
	}
	if err := tw.Close(); err != nil {
		return Summary{}, cw.explain(fmt.Errorf("finish source archive: %w", err))
	}
	if err := gz.Close(); err != nil {
		return Summary{}, cw.explain(fmt.Errorf("finish source archive: %w", err))
	}
	s.Size, s.SHA256 = cw.n, hex.EncodeToString(cw.sum.Sum(nil))
	return s, nil
}

func writeEntry(tw *tar.Writer, root string, e Entry) error {
	name := strings.TrimSuffix(e.Path, "/")
	if !fs.ValidPath(name) || name == "." {
		// Cannot come from a directory walk; kept so no archive ever
		// carries an absolute or ".." path.
		return fmt.Errorf("refusing to pack the path %q", e.Path)
	}
	h := &tar.Header{Name: e.Path, ModTime: epoch, Mode: int64(e.Mode.Perm())}
	switch {
	case e.Mode.IsDir():
		h.Typeflag = tar.TypeDir
	case e.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
	default:
		h.Typeflag, h.Size = tar.TypeReg, e.Size
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("pack %s: %w", e.Path, err)
	}
	if h.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(e.Path)))
	if err != nil {
		return fmt.Errorf("pack %s: %w", e.Path, err)
	}
	defer f.Close()
	n, err := io.CopyN(tw, f, e.Size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("pack %s: the file shrank to %d bytes while being packed", e.Path, n)
	}
	if err != nil {
		return fmt.Errorf("pack %s: %w", e.Path, err)
	}
	return nil
}

// countingWriter counts and hashes what passes, and fails past max.
type countingWriter struct {
	w   io.Writer
	n   int64
	max int64
	sum hash.Hash
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.max > 0 && c.n+int64(len(p)) > c.max {
		return 0, &TooLargeError{Max: c.max}
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.sum.Write(p[:n])
	return n, err
}

// explain returns the size error itself when err stems from it, so the
// caller can branch on it with errors.As.
func (c *countingWriter) explain(err error) error {
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return tl
	}
	return err
}
