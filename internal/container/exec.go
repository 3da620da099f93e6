package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecSpec describes a process to run inside a running container.
type ExecSpec struct {
	// Args is the command and its arguments (required).
	Args []string
	// Env holds KEY=VALUE pairs added to (or overriding) the container's environment.
	Env []string
	// WorkDir replaces the container's working directory when not empty.
	WorkDir string
	// TTY gives the process a terminal; its stderr then arrives on Stdout.
	TTY bool
	// Stdin feeds the process's standard input (nil: none); its EOF closes the process's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output (nil: discarded).
	Stdout, Stderr io.Writer
	// Size is the terminal's size when the process starts (TTY only; zero: the runtime's default).
	Size WindowSize
	// Resize delivers terminal size changes while the process runs (TTY only).
	Resize <-chan WindowSize
	// Signals delivers signals to send to the process while it runs.
	Signals <-chan syscall.Signal
}

// WindowSize is a terminal size in characters.
type WindowSize struct {
	// Width is the number of columns.
	Width uint32
	// Height is the number of rows.
	Height uint32
}

// Exec runs a process inside the running container id and returns its exit code once it has
// exited and its output has been copied. Cancelling ctx kills the process.
func (d *Driver) Exec(ctx context.Context, id string, p ExecSpec) (int, error) {
	if len(p.Args) == 0 {
		return -1, fmt.Errorf("exec in container %s: no command given", id)
	}
	c, err := d.load(ctx, id)
	if err != nil {
		return -1, err
	}
	t, err := task(ctx, c)
	if err != nil {
		return -1, err
	}
	if t == nil {
		return -1, fmt.Errorf("exec in container %s: it is not running", id)
	}
	if st, err := t.Status(ctx); err != nil || st.Status != containerd.Running {
		return -1, fmt.Errorf("exec in container %s: it is not running", id)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: reading spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = p.Args
	pspec.Terminal = p.TTY
	pspec.Env = mergeEnv(spec.Process.Env, p.Env)
	if p.WorkDir != "" {
		pspec.Cwd = p.WorkDir
	}
	pspec.ConsoleSize = nil
	if p.TTY && p.Size.Width > 0 && p.Size.Height > 0 {
		pspec.ConsoleSize = &specs.Box{Width: uint(p.Size.Width), Height: uint(p.Size.Height)}
	}

	// The shim closes the process's stdin only when told to, so EOF on our side is forwarded.
	var stdin io.Reader
	sc := &stdinCloser{r: p.Stdin, ready: make(chan struct{})}
	defer sc.setProcess(nil)
	if p.Stdin != nil {
		stdin = sc
	}
	// The shim needs a pipe for every stream it was not told is absent.
	stdout, stderr := p.Stdout, p.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil && !p.TTY {
		stderr = io.Discard
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if p.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	execID := "exec-" + randomHex(8)
	proc, err := t.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	bg := context.WithoutCancel(ctx)
	defer proc.Delete(bg, containerd.WithProcessKill)
	exited, err := proc.Wait(bg)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: waiting: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in container %s: starting %s: %w", id, p.Args[0], err)
	}
	sc.setProcess(proc)
	done := make(chan struct{})
	defer close(done)
	if p.Resize != nil || p.Signals != nil {
		resize, signals := p.Resize, p.Signals
		if !p.TTY {
			resize = nil
		}
		go func() {
			for resize != nil || signals != nil {
				select {
				case ws, ok := <-resize:
					if !ok {
						resize = nil
						continue
					}
					proc.Resize(bg, ws.Width, ws.Height)
				case sig, ok := <-signals:
					if !ok {
						signals = nil
						continue
					}
					proc.Kill(bg, sig)
				case <-done:
					return
				}
			}
		}()
	}
	var es containerd.ExitStatus
	select {
	case es = <-exited:
	case <-ctx.Done():
		// Its children go too: a shell that started them would otherwise
		// leave them running in the container, adopted by its init.
		for _, pid := range descendants(int(proc.Pid())) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		proc.Kill(bg, syscall.SIGKILL)
		select {
		case es = <-exited:
		case <-time.After(10 * time.Second):
		}
		return -1, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
	code, _, err := es.Result()
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	// Delete cancels the output copies before it waits for them, which can
	// drop the last output: let them drain first. A background child that
	// keeps the pipe open must not hold us forever, hence the bound.
	drained := make(chan struct{})
	go func() { proc.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
	}
	if _, err := proc.Delete(bg); err != nil {
		return int(code), fmt.Errorf("exec in container %s: cleaning up: %w", id, err)
	}
	return int(code), nil
}

// stdinCloser forwards reads and, on EOF, asks the shim to close the process's stdin.
// Reads may start before the process exists; EOF then waits until it started (or Exec gave up).
type stdinCloser struct {
	r     io.Reader
	once  sync.Once
	proc  containerd.Process
	ready chan struct{}
}

func (s *stdinCloser) setProcess(p containerd.Process) {
	s.once.Do(func() {
		s.proc = p
		close(s.ready)
	})
}

func (s *stdinCloser) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if errors.Is(err, io.EOF) {
		<-s.ready
		if s.proc != nil {
			s.proc.CloseIO(context.Background(), containerd.WithStdinCloser)
		}
	}
	return n, err
}

// mergeEnv returns base with the KEY=VALUE pairs of extra added, replacing same-named keys.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range extra {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if k, _, _ := strings.Cut(e, "="); k == key {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// descendants returns the host pids of pid's children, their children and
// so on, read from /proc.
func descendants(pid int) []int {
	if pid <= 0 {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if i < 0 || len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}
