package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// layerInfo describes a packed, gzip-compressed layer file.
type layerInfo struct {
	Digest string `json:"digest"`  // sha256 of the compressed file, "sha256:..."
	DiffID string `json:"diff_id"` // sha256 of the uncompressed tar
	Size   int64  `json:"size"`    // compressed size in bytes
}

// tarOptions say how a directory becomes a layer.
type tarOptions struct {
	// overlay converts overlayfs upper-dir markers into OCI whiteouts.
	overlay bool
	// prefix puts the directory's contents under this path (no leading
	// slash), with entries for its parents.
	prefix string
}

// packLayer writes dir as a gzip-compressed layer tarball to dst, atomically.
func packLayer(dir, dst string, opts tarOptions) (layerInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-"+filepath.Base(dst)+"-*")
	if err != nil {
		return layerInfo{}, fmt.Errorf("create layer file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()

	digest, diffID := sha256.New(), sha256.New()
	counter := &countWriter{w: io.MultiWriter(tmp, digest)}
	// BestSpeed: on two cores gzip dominates packing; the size cost is small.
	gz, err := gzip.NewWriterLevel(counter, gzip.BestSpeed)
	if err != nil {
		return layerInfo{}, err
	}
	tw := tar.NewWriter(io.MultiWriter(gz, diffID))
	if err := writeTree(tw, dir, opts); err != nil {
		return layerInfo{}, fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return layerInfo{}, fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := gz.Close(); err != nil {
		return layerInfo{}, fmt.Errorf("pack %s: %w", dir, err)
	}
	if err := tmp.Sync(); err != nil {
		return layerInfo{}, fmt.Errorf("sync layer: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return layerInfo{}, fmt.Errorf("chmod layer: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return layerInfo{}, fmt.Errorf("close layer: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return layerInfo{}, fmt.Errorf("store layer: %w", err)
	}
	return layerInfo{Digest: hexDigest(digest), DiffID: hexDigest(diffID), Size: counter.n}, nil
}

func hexDigest(h hash.Hash) string { return fmt.Sprintf("sha256:%x", h.Sum(nil)) }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeTree writes dir's contents (not dir itself) to tw.
func writeTree(tw *tar.Writer, dir string, opts tarOptions) error {
	prefix := strings.Trim(opts.prefix, "/")
	if prefix != "" {
		// Parents of the target, so the layer applies on any base.
		parts := strings.Split(prefix, "/")
		for i := range parts {
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
	}
	links := map[[2]uint64]string{} // (dev, inode) -> first name, for hard links
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if opts.overlay && fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
			// An overlay whiteout: the file was deleted from the lower layer.
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(path.Dir(name), ".wh."+path.Base(name)), Format: tar.FormatPAX})
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		// Host user names mean nothing in the image; numeric ids do.
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if st != nil {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if fi.Mode().IsRegular() && st.Nlink > 1 {
				key := [2]uint64{st.Dev, st.Ino}
				if first, ok := links[key]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					links[key] = name
				}
			}
		}
		xattrs, opaque, err := readXattrs(p)
		if err != nil {
			return err
		}
		for k, v := range xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("copy %s: %w", p, err)
			}
		}
		if opts.overlay && fi.IsDir() && opaque {
			// The directory replaced a lower one: hide everything below it.
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name + "/.wh..wh..opq", Format: tar.FormatPAX})
		}
		return nil
	})
}

// readXattrs returns p's extended attributes except overlayfs' own, and
// whether p carries the overlay opaque marker.
func readXattrs(p string) (map[string]string, bool, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ERANGE) {
		sz, err2 := unix.Llistxattr(p, nil)
		if err2 != nil {
			return nil, false, fmt.Errorf("list xattrs of %s: %w", p, err2)
		}
		buf = make([]byte, sz)
		n, err = unix.Llistxattr(p, buf)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var out map[string]string
	opaque := false
	for _, k := range strings.Split(string(buf[:n]), "\x00") {
		if k == "" {
			continue
		}
		v, err := getXattr(p, k)
		if err != nil {
			return nil, false, err
		}
		if k == "trusted.overlay.opaque" || k == "user.overlay.opaque" {
			opaque = v == "y"
			continue
		}
		if strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, opaque, nil
}

func getXattr(p, k string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, k, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read xattr %s of %s: %w", k, p, err)
		}
		return string(buf[:n]), nil
	}
}

// fileLayer is a v1.Layer backed by a packed layer file whose digests are
// already known, so go-containerregistry need not re-read it to hash it.
type fileLayer struct {
	path string
	info layerInfo
}

var _ v1.Layer = fileLayer{}

func (l fileLayer) Digest() (v1.Hash, error) { return v1.NewHash(l.info.Digest) }
func (l fileLayer) DiffID() (v1.Hash, error) { return v1.NewHash(l.info.DiffID) }
func (l fileLayer) Size() (int64, error)     { return l.info.Size, nil }
func (l fileLayer) MediaType() (types.MediaType, error) {
	return types.DockerLayer, nil
}
func (l fileLayer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{gz, func() error { gz.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// writeJSON writes v to path atomically.
func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p, b, 0o644)
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeFileAtomic(p string, b []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
