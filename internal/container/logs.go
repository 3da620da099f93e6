package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LogOptions selects what Logs returns.
type LogOptions struct {
	// Tail limits the output to the last Tail lines already written (0: all of them).
	Tail int
	// Follow keeps the stream open and delivers new lines until ctx ends, the reader is closed or
	// the container is removed.
	Follow bool
}

// followPoll is how often a followed log is checked for new lines.
const followPoll = 100 * time.Millisecond

// Logs returns the container's combined stdout and stderr, as written by containerd's shim to
// StateDir/logs/<id>.log. The caller closes the reader.
func (d *Driver) Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error) {
	if _, err := d.load(ctx, id); err != nil {
		return nil, err
	}
	f, err := os.Open(d.logPath(id))
	if errors.Is(err, os.ErrNotExist) {
		// Never started: an empty log, which a follower waits on.
		if err := os.WriteFile(d.logPath(id), nil, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating log of %s: %w", id, err)
		}
		f, err = os.Open(d.logPath(id))
	}
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", id, err)
	}
	if opts.Tail > 0 {
		off, err := tailOffset(f, opts.Tail)
		if err == nil {
			_, err = f.Seek(off, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading log of %s: %w", id, err)
		}
	}
	if !opts.Follow {
		return f, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		tick := time.NewTicker(followPoll)
		defer tick.Stop()
		checks := 0
		for {
			if _, err := io.Copy(pw, f); err != nil {
				pw.CloseWithError(err)
				return
			}
			select {
			case <-ctx.Done():
				pw.Close()
				return
			case <-tick.C:
			}
			checks++
			if checks%10 == 0 {
				if _, err := d.client.LoadContainer(ctx, id); err != nil && ctx.Err() == nil {
					io.Copy(pw, f)
					pw.Close()
					return
				}
			}
		}
	}()
	return &followReader{PipeReader: pr, cancel: cancel}, nil
}

type followReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *followReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// tailOffset returns the offset of the first of the last n lines of f, reading backwards.
func tailOffset(f *os.File, n int) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := fi.Size()
	if end == 0 {
		return 0, nil
	}
	buf := make([]byte, 32*1024)
	pos := end
	// A final newline ends the last line rather than starting an empty one.
	newlines := 0
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, end-1); err != nil {
		return 0, err
	}
	if last[0] == '\n' {
		newlines = -1
	}
	for pos > 0 {
		size := int64(len(buf))
		if pos < size {
			size = pos
		}
		pos -= size
		chunk := buf[:size]
		if _, err := f.ReadAt(chunk, pos); err != nil {
			return 0, err
		}
		for i := len(chunk) - 1; i >= 0; i-- {
			if chunk[i] != '\n' {
				continue
			}
			newlines++
			if newlines == n {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return 0, nil
}
