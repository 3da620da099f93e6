package sshd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"gasper/proto"
)

// Payloads of the session requests of RFC 4254, section 6.
type (
	ptyRequest struct {
		Term                      string
		Cols, Rows, Width, Height uint32
		Modes                     string
	}
	windowChange struct{ Cols, Rows, Width, Height uint32 }
	envRequest   struct{ Name, Value string }
	execRequest  struct{ Command string }
	signalMsg    struct{ Signal string }
	exitStatus   struct{ Status uint32 }
)

// envName is what a client may set in the session's environment.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// handleSession runs one session channel. Its requests are read here, not
// by gliderlabs' own session handler, so the output reaches the client
// byte for byte (that handler rewrites \n as \r\n on terminals, which
// breaks full-screen programs) and every request goes exactly where it
// belongs.
func (s *Server) handleSession(_ *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	ch, reqs, err := newChan.Accept()
	if err != nil {
		return
	}
	var (
		start   proto.ExecStart
		kind    string
		command string
		started bool
		resize  = make(chan proto.WindowSize, 8)
		signals = make(chan string, 8)
	)
	for req := range reqs {
		ok, begin := false, false
		switch req.Type {
		case "env":
			var m envRequest
			if gossh.Unmarshal(req.Payload, &m) == nil && envName.MatchString(m.Name) && !started && len(start.Env) < 64 {
				start.Env, ok = append(start.Env, m.Name+"="+m.Value), true
			}
		case "pty-req":
			var m ptyRequest
			if gossh.Unmarshal(req.Payload, &m) == nil && !started {
				start.TTY, start.Term, start.Size, ok = true, m.Term, proto.WindowSize{Cols: m.Cols, Rows: m.Rows}, true
			}
		case "window-change":
			var m windowChange
			if gossh.Unmarshal(req.Payload, &m) == nil && start.TTY {
				select {
				case resize <- proto.WindowSize{Cols: m.Cols, Rows: m.Rows}:
				default: // a flood of sizes: the next one will do
				}
				ok = true
			}
		case "signal":
			var m signalMsg
			if gossh.Unmarshal(req.Payload, &m) == nil {
				select {
				case signals <- m.Signal:
				default:
				}
				ok = true
			}
		case "shell", "exec", "subsystem":
			if started {
				break
			}
			switch req.Type {
			case "shell":
				kind, ok = proto.SSHShell, true
			case "exec":
				var m execRequest
				if gossh.Unmarshal(req.Payload, &m) == nil {
					kind, command, ok = proto.SSHCommand, m.Command, true
				}
			case "subsystem":
				var m execRequest
				if gossh.Unmarshal(req.Payload, &m) == nil && m.Command == proto.SubsystemSFTP {
					kind, ok = proto.SSHSFTP, true
					start.Subsystem, start.TTY = proto.SubsystemSFTP, false
				}
			}
			started, begin = ok, ok
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if begin { // after the reply: the client expects it before any output
			go s.run(ctx, conn, ch, kind, command, start, resize, signals)
		}
	}
	if !started {
		ch.Close()
	}
}

// run runs a started session to its end and closes the channel with the
// exit status.
func (s *Server) run(ctx context.Context, conn *gossh.ServerConn, ch gossh.Channel, kind, command string,
	start proto.ExecStart, resize <-chan proto.WindowSize, signals <-chan string) {
	began := time.Now()
	code := 255
	closed := false
	closeChannel := func() {
		if !closed {
			closed = true
			ch.CloseWrite()
			ch.SendRequest("exit-status", false, gossh.Marshal(exitStatus{uint32(code)}))
			ch.Close()
		}
	}
	defer closeChannel()
	say := func(format string, args ...any) {
		msg := fmt.Sprintf("gasper: "+format+"\n", args...)
		if start.TTY {
			msg = strings.ReplaceAll(msg, "\n", "\r\n")
		}
		io.WriteString(ch.Stderr(), msg)
	}
	id, ok := identity(conn)
	if !ok {
		say("this connection has no identity; reconnect")
		return
	}
	req := proto.SSHSessionRequest{Identity: id, Kind: kind, Remote: conn.RemoteAddr().String()}
	var gitApp string
	if kind == proto.SSHCommand {
		if app, verb, isGit := gitCommand(command); isGit {
			if verb != "receive-pack" {
				say("only git push is served here (git %s is not): the app's code lives in its releases", verb)
				code = 1
				return
			}
			if app == "" {
				say("push to ssh://%s@HOST:PORT/APP.git, where APP is one of your apps", id.Login)
				code = 1
				return
			}
			kind, gitApp = proto.SSHGitPush, app
			req.Kind, req.App = kind, app
		} else {
			start.Args = []string{"sh", "-c", command}
		}
	}
	var sess proto.SSHSession
	if err := s.call(ctx, proto.PathSSHSessions, req, &sess); err != nil {
		say("%s", err)
		code = 1
		return
	}
	log := s.log.With("session", sess.ID, "app", sess.App, "user", id.User, "kind", kind)
	log.Info("ssh session started", "remote", req.Remote, "container", sess.Container)
	if kind == proto.SSHGitPush {
		code = s.gitPush(ctx, ch, sess, gitApp, log)
	} else {
		code = s.exec(ctx, ch, sess, start, resize, signals, say)
	}
	took := time.Since(began)
	closeChannel() // the client need not wait for the audit log
	log.Info("ssh session ended", "exit_code", code, "duration", took)
	if err := s.call(context.WithoutCancel(ctx), strings.Replace(proto.PathSSHSessionEnd, "{id}", sess.ID, 1),
		proto.SSHSessionEnd{ExitCode: code, Duration: took}, nil); err != nil {
		log.Warn("report the end of an ssh session", "err", err)
	}
}

// gitCommand recognises git's remote commands, like "git-receive-pack
// '/web.git'", and the app their path names ("" when it names none).
func gitCommand(command string) (app, verb string, ok bool) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(command), " ")
	if cmd == "git" { // "git receive-pack PATH"
		cmd, arg, _ = strings.Cut(strings.TrimSpace(arg), " ")
		cmd = "git-" + cmd
	}
	verb, ok = strings.CutPrefix(cmd, "git-")
	if !ok || (verb != "receive-pack" && verb != "upload-pack" && verb != "upload-archive") {
		return "", "", false
	}
	p := strings.Trim(strings.TrimSpace(arg), `'"`)
	p = strings.TrimPrefix(strings.TrimPrefix(p, "~"), "/")
	name, isGit := strings.CutSuffix(p, ".git")
	if !isGit || strings.ContainsAny(name, "/.") {
		return "", verb, true
	}
	return name, verb, true
}

// exec runs a shell, command or SFTP session over an exec stream and
// returns its exit status.
func (s *Server) exec(ctx context.Context, ch gossh.Channel, sess proto.SSHSession, start proto.ExecStart,
	resize <-chan proto.WindowSize, signals <-chan string, say func(string, ...any)) int {
	stream, err := s.openStream(ctx, sess)
	if err != nil {
		say("%s", err)
		return 1
	}
	defer stream.Close()
	// A client that goes away (Ctrl-C on ssh without a terminal, a dropped
	// network) takes its process with it: closing the stream kills it.
	stop := context.AfterFunc(ctx, func() { stream.Close() })
	defer stop()
	out := proto.NewFrameWriter(stream)
	if err := out.WriteJSON(proto.FrameStart, start); err != nil {
		say("the stream to the container broke: %s", err)
		return 255
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := ch.Read(buf)
			if n > 0 && out.Write(proto.FrameStdin, buf[:n]) != nil {
				return
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					out.Write(proto.FrameStdinEOF, nil)
				}
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case ws := <-resize:
				out.WriteJSON(proto.FrameResize, ws)
			case sig := <-signals:
				out.Write(proto.FrameSignal, []byte(sig))
			case <-done:
				return
			}
		}
	}()
	for {
		typ, p, err := proto.ReadFrame(stream)
		if err != nil {
			say("the stream to the container broke (%v)", err)
			return 255
		}
		switch typ {
		case proto.FrameStdout:
			if _, err := ch.Write(p); err != nil {
				return 255 // the client is gone; closing the stream ends the process
			}
		case proto.FrameStderr:
			if _, err := ch.Stderr().Write(p); err != nil {
				return 255
			}
		case proto.FrameExit:
			var x proto.ExecExit
			if err := json.Unmarshal(p, &x); err != nil {
				return 255
			}
			if x.Error != "" {
				say("%s", x.Error)
			}
			return x.Code
		}
	}
}

// openStream opens the session's exec stream: in-process when the
// container runs on this node, else relayed by the master.
func (s *Server) openStream(ctx context.Context, sess proto.SSHSession) (io.ReadWriteCloser, error) {
	if s.cfg.Local != nil && sess.Node != "" && sess.Node == s.cfg.NodeID() {
		// A socket pair, not net.Pipe: its buffer lets either side write
		// a frame while the other is busy writing too.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		ours, err := fileConn(fds[0], "exec")
		if err != nil {
			unix.Close(fds[1])
			return nil, err
		}
		theirs, err := fileConn(fds[1], "exec")
		if err != nil {
			ours.Close()
			return nil, err
		}
		go s.cfg.Local(context.WithoutCancel(ctx), sess.App, sess.Container, theirs)
		return ours, nil
	}
	req, err := proto.NewExecRequest(ctx, "http://master"+strings.Replace(proto.PathSSHSessionExec, "{id}", sess.ID, 1))
	if err != nil {
		return nil, err
	}
	stream, resp, err := proto.OpenExec(s.cfg.Master(), req)
	if err != nil {
		return nil, fmt.Errorf("the master is unreachable: %w", err)
	}
	if resp != nil {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &refusedError{strings.TrimSpace(string(b))}
	}
	return stream, nil
}

func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // FileConn holds its own duplicate
	return net.FileConn(f)
}
