package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileLock is an exclusive flock(2) on a file, shared by every process that
// uses the same CacheDir (several agents on one machine).
type fileLock struct{ f *os.File }

// lockFile takes the lock at path, waiting until ctx ends. When another
// process holds it, waitMsg is written to out once before waiting.
func lockFile(ctx context.Context, path string, out io.Writer, waitMsg string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	told := false
	// flock cannot be interrupted by a context, so poll the non-blocking form.
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told && waitMsg != "" {
			fmt.Fprintln(out, waitMsg)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Unlock releases the lock.
func (l *fileLock) Unlock() {
	// Closing the descriptor releases the flock.
	l.f.Close()
}
