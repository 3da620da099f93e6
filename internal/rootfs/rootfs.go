package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// resolve is how every path is looked up: inside the root, never through
// /proc's magic links (which would lead back out).
const resolve = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// Root is an open directory tree. Its methods take paths relative to the
// tree's top ("/" is the top; relative paths start there too).
type Root struct {
	fd   int
	name string
}

// Open opens dir as a Root.
func Open(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Root{fd: fd, name: dir}, nil
}

// Close releases the tree.
func (r *Root) Close() error { return unix.Close(r.fd) }

// clean makes name absolute within the tree.
func clean(name string) string { return path.Clean("/" + name) }

// openat2 opens name in the tree, retrying the EAGAIN the kernel returns
// when a rename elsewhere raced the lookup.
func (r *Root) openat2(name string, flags uint64, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Mode: uint64(mode), Resolve: resolve}
	for try := 0; ; try++ {
		fd, err := unix.Openat2(r.fd, clean(name), &how)
		if errors.Is(err, unix.EAGAIN) && try < 16 {
			continue
		}
		return fd, err
	}
}

// parent opens the directory holding name and returns it with name's last
// element, for the *at calls that act on a directory entry itself.
func (r *Root) parent(op, name string) (int, string, error) {
	dir, base := path.Split(clean(name))
	if base == "" {
		return -1, "", &os.PathError{Op: op, Path: name, Err: unix.EBUSY} // the top itself
	}
	fd, err := r.openat2(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: op, Path: name, Err: err}
	}
	return fd, base, nil
}

// OpenFile opens a file like os.OpenFile, following symbolic links within
// the tree.
func (r *Root) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := r.openat2(name, uint64(flag), uint32(perm.Perm()))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), clean(name)), nil
}

// Stat describes a file, following symbolic links within the tree.
func (r *Root) Stat(name string) (os.FileInfo, error) {
	return r.stat("stat", name, 0)
}

// Lstat describes a file; a symbolic link describes itself.
func (r *Root) Lstat(name string) (os.FileInfo, error) {
	return r.stat("lstat", name, unix.O_NOFOLLOW)
}

func (r *Root) stat(op, name string, flags uint64) (os.FileInfo, error) {
	fd, err := r.openat2(name, unix.O_PATH|flags, 0)
	if err != nil {
		return nil, &os.PathError{Op: op, Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Base(clean(name)))
	defer f.Close()
	return f.Stat()
}

// ReadDir lists a directory; each entry describes itself (links are not
// followed).
func (r *Root) ReadDir(name string) ([]os.FileInfo, error) {
	dir, err := r.OpenFile(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]os.FileInfo, 0, len(names))
	for _, n := range names {
		// One element, not followed: it cannot leave the directory.
		fd, err := unix.Openat(int(dir.Fd()), n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // gone meanwhile
		}
		f := os.NewFile(uintptr(fd), n)
		fi, err := f.Stat()
		f.Close()
		if err == nil {
			out = append(out, fi)
		}
	}
	return out, nil
}

// Mkdir creates a directory.
func (r *Root) Mkdir(name string, perm os.FileMode) error {
	return r.entry("mkdir", name, func(dir int, base string) error { return unix.Mkdirat(dir, base, uint32(perm.Perm())) })
}

// Remove removes a file or symbolic link (not a directory).
func (r *Root) Remove(name string) error {
	return r.entry("remove", name, func(dir int, base string) error { return unix.Unlinkat(dir, base, 0) })
}

// Rmdir removes an empty directory.
func (r *Root) Rmdir(name string) error {
	return r.entry("rmdir", name, func(dir int, base string) error { return unix.Unlinkat(dir, base, unix.AT_REMOVEDIR) })
}

// Symlink creates a symbolic link name pointing at target. Any target is
// allowed: links are only ever followed inside the tree.
func (r *Root) Symlink(target, name string) error {
	return r.entry("symlink", name, func(dir int, base string) error { return unix.Symlinkat(target, dir, base) })
}

// Readlink returns a symbolic link's target.
func (r *Root) Readlink(name string) (string, error) {
	var target string
	err := r.entry("readlink", name, func(dir int, base string) error {
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dir, base, buf)
		target = string(buf[:max(n, 0)])
		return err
	})
	return target, err
}

// Rename renames oldname to newname; with replace false it fails when
// newname exists.
func (r *Root) Rename(oldname, newname string, replace bool) error {
	return r.pair("rename", oldname, newname, func(od int, ob string, nd int, nb string) error {
		flags := uint(unix.RENAME_NOREPLACE)
		if replace {
			flags = 0
		}
		return unix.Renameat2(od, ob, nd, nb, flags)
	})
}

// Link makes newname a hard link to oldname.
func (r *Root) Link(oldname, newname string) error {
	return r.pair("link", oldname, newname, func(od int, ob string, nd int, nb string) error {
		return unix.Linkat(od, ob, nd, nb, 0)
	})
}

// Chmod changes a file's mode, following symbolic links within the tree.
func (r *Root) Chmod(name string, mode os.FileMode) error {
	return r.byFD("chmod", name, func(fd int, proc string) error {
		return unix.Fchmodat(unix.AT_FDCWD, proc, uint32(mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)), 0)
	})
}

// Chown changes a file's owner and group.
func (r *Root) Chown(name string, uid, gid int) error {
	return r.byFD("chown", name, func(fd int, _ string) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
	})
}

// Chtimes changes a file's access and modification times.
func (r *Root) Chtimes(name string, atime, mtime time.Time) error {
	return r.byFD("chtimes", name, func(fd int, proc string) error {
		ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, proc, ts, 0)
	})
}

// Truncate changes a regular file's size.
func (r *Root) Truncate(name string, size int64) error {
	return r.byFD("truncate", name, func(fd int, proc string) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return unix.EINVAL
		}
		return unix.Truncate(proc, size)
	})
}

// entry runs fn on name's directory entry.
func (r *Root) entry(op, name string, fn func(dir int, base string) error) error {
	dir, base, err := r.parent(op, name)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := fn(dir, base); err != nil {
		return &os.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// pair runs fn on two names' directory entries.
func (r *Root) pair(op, oldname, newname string, fn func(od int, ob string, nd int, nb string) error) error {
	od, ob, err := r.parent(op, oldname)
	if err != nil {
		return err
	}
	defer unix.Close(od)
	nd, nb, err := r.parent(op, newname)
	if err != nil {
		return err
	}
	defer unix.Close(nd)
	if err := fn(od, ob, nd, nb); err != nil {
		return &os.PathError{Op: op, Path: oldname + " -> " + newname, Err: err}
	}
	return nil
}

// byFD resolves name inside the tree to an O_PATH descriptor and runs fn
// with it and its /proc/self/fd path: calls that have no *at form safe
// against links (chmod, utimes, truncate) then act on exactly that file.
func (r *Root) byFD(op, name string, fn func(fd int, proc string) error) error {
	fd, err := r.openat2(name, unix.O_PATH, 0)
	if err != nil {
		return &os.PathError{Op: op, Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := fn(fd, "/proc/self/fd/"+strconv.Itoa(fd)); err != nil {
		return &os.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// String names the tree, for logs.
func (r *Root) String() string { return fmt.Sprintf("rootfs(%s)", r.name) }
