package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"gasper/internal/container"
	"gasper/proto"
)

// loginShell is what a session without a command runs: the image's bash
// if it has one, else sh, as a login shell.
var loginShell = []string{"sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"}

// signals are the signal names an exec stream may send (RFC 4254's list).
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// execTarget checks that container id is a running instance of app on this
// node: the label decides, so no name reaches another app's container, a
// build container or anything else the node runs.
func (m *Manager) execTarget(ctx context.Context, app, id string) (container.Status, error) {
	bad := fmt.Errorf("app %s has no running instance %s on this node", app, id)
	if container.ValidateID(id) != nil || app == "" {
		return container.Status{}, bad
	}
	st, err := m.cfg.Driver.Status(ctx, id)
	if err != nil || st.Labels[labelApp] != app || st.Labels[labelBuild] != "" || st.State != container.StateRunning {
		return container.Status{}, bad
	}
	return st, nil
}

// handleExec serves proto.PathExec.
func (m *Manager) handleExec(w http.ResponseWriter, r *http.Request) {
	app, id := r.URL.Query().Get("app"), r.URL.Query().Get("container")
	if !proto.IsExecRequest(r) {
		http.Error(w, "this route needs Upgrade: "+proto.ExecUpgrade, http.StatusBadRequest)
		return
	}
	if _, err := m.execTarget(r.Context(), app, id); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	stream, err := proto.AcceptExec(w)
	if err != nil {
		m.log.Warn("open exec stream", "app", app, "err", err)
		return
	}
	m.ServeExec(context.Background(), app, id, stream)
}

// ServeExec runs the exec stream of one session into container id of app
// and closes it. The ssh role calls it directly for containers on its own
// node; everything else comes through PathExec.
func (m *Manager) ServeExec(ctx context.Context, app, id string, stream io.ReadWriteCloser) {
	defer stream.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := proto.NewFrameWriter(stream)
	fail := func(err error) { out.WriteJSON(proto.FrameExit, proto.ExecExit{Code: 255, Error: err.Error()}) }

	st, err := m.execTarget(ctx, app, id)
	if err != nil {
		fail(err)
		return
	}
	typ, payload, err := proto.ReadFrame(stream)
	if err != nil {
		return
	}
	var start proto.ExecStart
	if typ != proto.FrameStart || json.Unmarshal(payload, &start) != nil {
		fail(errors.New("the exec stream must start with a start frame"))
		return
	}

	stdin, stdinW := io.Pipe()
	defer stdin.Close() // unblocks a stdin write the finished process will never read
	resize := make(chan container.WindowSize, 4)
	sigs := make(chan syscall.Signal, 4)
	go func() {
		// The client going away ends the process: ctx kills it.
		defer cancel()
		for {
			typ, p, err := proto.ReadFrame(stream)
			if err != nil {
				stdinW.CloseWithError(io.ErrUnexpectedEOF)
				return
			}
			switch typ {
			case proto.FrameStdin:
				if _, err := stdinW.Write(p); err != nil {
					// The process closed its stdin: drop the rest, keep the stream.
					continue
				}
			case proto.FrameStdinEOF:
				stdinW.Close()
			case proto.FrameResize:
				var ws proto.WindowSize
				if json.Unmarshal(p, &ws) == nil && ws.Cols > 0 && ws.Rows > 0 {
					select {
					case resize <- container.WindowSize{Width: ws.Cols, Height: ws.Rows}:
					default: // a newer size follows
					}
				}
			case proto.FrameSignal:
				if sig, ok := signals[string(p)]; ok {
					select {
					case sigs <- sig:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()

	var code int
	if start.Subsystem == proto.SubsystemSFTP {
		code, err = m.serveSFTP(ctx, st, stdin, out.Writer(proto.FrameStdout))
	} else if start.Subsystem != "" {
		err = fmt.Errorf("subsystem %q is not served: only %s", start.Subsystem, proto.SubsystemSFTP)
	} else {
		args := start.Args
		if len(args) == 0 {
			args = loginShell
		}
		env := start.Env
		if start.TTY && start.Term != "" {
			env = append(env, "TERM="+start.Term)
		}
		code, err = m.cfg.Driver.Exec(ctx, id, container.ExecSpec{
			Args: args, Env: env, TTY: start.TTY, Stdin: stdin,
			Stdout: out.Writer(proto.FrameStdout), Stderr: out.Writer(proto.FrameStderr),
			Size:   container.WindowSize{Width: start.Size.Cols, Height: start.Size.Rows},
			Resize: resize, Signals: sigs,
		})
	}
	if err != nil {
		if ctx.Err() == nil {
			m.log.Info("exec failed", "app", app, "container", id, "err", err)
		}
		fail(err)
		return
	}
	out.WriteJSON(proto.FrameExit, proto.ExecExit{Code: code})
}
