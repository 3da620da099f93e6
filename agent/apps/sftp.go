package apps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pkg/sftp"

	"gasper/internal/container"
	"gasper/internal/rootfs"
)

// serveSFTP serves SFTP on the files of a running container, as seen by its
// process (its root with its mounts), until the client ends the session.
// Container images need no SFTP server of their own: the agent serves it,
// with every path confined to the container's tree by rootfs.
func (m *Manager) serveSFTP(ctx context.Context, st container.Status, in io.Reader, out io.Writer) (int, error) {
	root, err := rootfs.Open(fmt.Sprintf("/proc/%d/root", st.Pid))
	if err != nil {
		return 0, fmt.Errorf("open the files of container %s: %w", st.ID, err)
	}
	defer root.Close()
	// The pid must still be the container's: a pid reused after the
	// container stopped would open another process's files.
	if now, err := m.cfg.Driver.Status(ctx, st.ID); err != nil || now.Pid != st.Pid || now.State != container.StateRunning {
		return 0, fmt.Errorf("container %s stopped", st.ID)
	}
	h := sftpHandler{root: root}
	srv := sftp.NewRequestServer(sftpStream{in, out}, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		sftp.WithStartDirectory("/app"))
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
		return 1, nil
	}
	return 0, nil
}

type sftpStream struct {
	io.Reader
	io.Writer
}

func (sftpStream) Close() error { return nil }

// sftpHandler answers SFTP requests on a rootfs.Root.
type sftpHandler struct{ root *rootfs.Root }

var (
	_ sftp.OpenFileWriter       = sftpHandler{}
	_ sftp.PosixRenameFileCmder = sftpHandler{}
	_ sftp.LstatFileLister      = sftpHandler{}
	_ sftp.ReadlinkFileLister   = sftpHandler{}
)

func (h sftpHandler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	return h.root.OpenFile(r.Filepath, os.O_RDONLY, 0)
}

func (h sftpHandler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.open(r)
}

func (h sftpHandler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.open(r)
}

func (h sftpHandler) open(r *sftp.Request) (*os.File, error) {
	pf := r.Pflags()
	flag := os.O_WRONLY
	if pf.Read {
		flag = os.O_RDWR
	}
	// Append is left out: writes come at offsets (WriteAt), which O_APPEND breaks.
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	perm := os.FileMode(0o644)
	if r.AttrFlags().Permissions {
		perm = r.Attributes().FileMode().Perm()
	}
	return h.root.OpenFile(r.Filepath, flag, perm)
}

func (h sftpHandler) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Rename":
		return h.root.Rename(r.Filepath, r.Target, false)
	case "Rmdir":
		return h.root.Rmdir(r.Filepath)
	case "Remove":
		return h.root.Remove(r.Filepath)
	case "Mkdir":
		return h.root.Mkdir(r.Filepath, 0o755)
	case "Link":
		return h.root.Link(r.Filepath, r.Target)
	case "Symlink":
		// Filepath is the link's target, Target the link itself.
		return h.root.Symlink(r.Filepath, r.Target)
	}
	return fmt.Errorf("sftp: %s is not supported", r.Method)
}

func (h sftpHandler) PosixRename(r *sftp.Request) error {
	return h.root.Rename(r.Filepath, r.Target, true)
}

func (h sftpHandler) setstat(r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if flags.Size {
		if err := h.root.Truncate(r.Filepath, int64(attrs.Size)); err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := h.root.Chmod(r.Filepath, attrs.FileMode()); err != nil {
			return err
		}
	}
	if flags.UidGid {
		if err := h.root.Chown(r.Filepath, int(attrs.UID), int(attrs.GID)); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		if err := h.root.Chtimes(r.Filepath, time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)); err != nil {
			return err
		}
	}
	return nil
}

func (h sftpHandler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		fis, err := h.root.ReadDir(r.Filepath)
		return listerAt(fis), err
	case "Stat":
		fi, err := h.root.Stat(r.Filepath)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, fmt.Errorf("sftp: %s is not supported", r.Method)
}

func (h sftpHandler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.root.Lstat(r.Filepath)
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h sftpHandler) Readlink(p string) (string, error) { return h.root.Readlink(p) }

type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}
