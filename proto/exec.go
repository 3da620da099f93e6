package proto

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// An exec stream runs one process in an app's container and carries its
// terminal, input, output, signals and exit status. It is the one way into a
// container: `gasper app exec` and `gasper app shell` (CLI -> master API ->
// agent), SSH sessions (ssh role -> master -> agent, or straight to the
// local app role) and SFTP all speak it.
//
// A stream starts as an HTTP/1.1 request with "Connection: Upgrade" and
// "Upgrade: gasper-exec"; what is wrong with the request itself (unknown
// app, no running instance, no rights) is answered with an ordinary HTTP
// error. After "101 Switching Protocols" both sides exchange frames: one
// type byte, the payload length as a big-endian uint32, the payload. The
// client sends FrameStart first, then any of FrameStdin, FrameStdinEOF,
// FrameResize and FrameSignal; the server sends FrameStdout and FrameStderr
// and, last, FrameExit. The client closing the stream kills the process.

// ExecUpgrade is the Upgrade header value of an exec stream.
const ExecUpgrade = "gasper-exec"

// PathExec (POST, upgraded to an exec stream, with ?app=APP&container=ID)
// runs a process in one of the app role's containers. The container must
// belong to the app: the agent checks its label, so no name reaches another
// app's, a build's or a database's container.
const PathExec = "/v1/exec"

// Frame types.
const (
	FrameStart    byte = 's' // client -> server: ExecStart (JSON), first
	FrameStdin    byte = 'i' // client -> server: bytes for the process's stdin
	FrameStdinEOF byte = 'e' // client -> server: stdin is finished
	FrameResize   byte = 'w' // client -> server: WindowSize (JSON)
	FrameSignal   byte = 'k' // client -> server: a signal name ("INT", "TERM", "HUP", ...)
	FrameStdout   byte = '1' // server -> client: the process's stdout (its terminal with a TTY)
	FrameStderr   byte = '2' // server -> client: the process's stderr
	FrameExit     byte = 'x' // server -> client: ExecExit (JSON), last
)

// MaxFrame bounds a frame's payload; longer output is sent in several frames.
const MaxFrame = 1 << 20

// ExecStart says what to run. It is the payload of FrameStart.
type ExecStart struct {
	// Args is the command; empty means the container's login shell (bash if
	// the image has it, else sh).
	Args []string `json:"args,omitempty"`
	// TTY gives the process a terminal (stderr then arrives on it too).
	TTY bool `json:"tty,omitempty"`
	// Term is the TERM of the terminal; Size its first size.
	Term string     `json:"term,omitempty"`
	Size WindowSize `json:"size,omitempty"`
	// Env adds KEY=VALUE pairs to the container's environment.
	Env []string `json:"env,omitempty"`
	// Subsystem "sftp" serves SFTP on the container's files instead of
	// running Args.
	Subsystem string `json:"subsystem,omitempty"`
}

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}

// ExecExit is how the process ended: the payload of FrameExit.
type ExecExit struct {
	// Code is the exit status (128+N when killed by signal N).
	Code int `json:"code"`
	// Error, when set, says why the process could not run at all.
	Error string `json:"error,omitempty"`
}

// SubsystemSFTP is the ExecStart.Subsystem that serves SFTP.
const SubsystemSFTP = "sftp"

// ErrFrameTooLarge is returned by ReadFrame for a payload over MaxFrame.
var ErrFrameTooLarge = errors.New("exec stream: frame larger than 1 MiB")

// ReadFrame reads one frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, ErrFrameTooLarge
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// FrameWriter writes frames; it is safe for concurrent use, so stdout and
// stderr can share one stream.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter returns a FrameWriter on w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write sends p as frames of type typ (several when p is over MaxFrame; one
// empty frame when p is empty).
func (f *FrameWriter) Write(typ byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for first := true; first || len(p) > 0; first = false {
		n := min(len(p), MaxFrame)
		buf := make([]byte, 5+n)
		buf[0] = typ
		binary.BigEndian.PutUint32(buf[1:], uint32(n))
		copy(buf[5:], p[:n])
		if _, err := f.w.Write(buf); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// WriteJSON sends v, encoded as JSON, as one frame of type typ.
func (f *FrameWriter) WriteJSON(typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("exec stream: encode frame: %w", err)
	}
	return f.Write(typ, b)
}

// Writer returns an io.Writer whose writes become frames of type typ.
func (f *FrameWriter) Writer(typ byte) io.Writer { return frameStream{f, typ} }

type frameStream struct {
	f   *FrameWriter
	typ byte
}

func (s frameStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.Write(s.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// IsExecRequest tells whether r asks to be upgraded to an exec stream.
func IsExecRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), ExecUpgrade) &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// NewExecRequest returns the request that opens an exec stream at url.
func NewExecRequest(ctx context.Context, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", ExecUpgrade)
	return req, nil
}

// OpenExec sends req (from NewExecRequest) with hc. When the server
// switches protocols it returns the stream; otherwise it returns the
// response, whose body the caller reads (for the error) and closes.
func OpenExec(hc *http.Client, req *http.Request) (io.ReadWriteCloser, *http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, resp, nil
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, nil, errors.New("exec stream: the server switched protocols but the stream is not writable")
	}
	return rwc, nil, nil
}

// AcceptExec answers an exec request with 101 Switching Protocols and
// returns the stream, which the caller closes. Errors must be answered
// before: after AcceptExec only frames go back.
func AcceptExec(w http.ResponseWriter) (io.ReadWriteCloser, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("exec stream: take over the connection: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+ExecUpgrade+"\r\n\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	return hijacked{Conn: conn, r: brw.Reader}, nil
}

// hijacked reads through the server's buffer, which may already hold the
// client's first frames.
type hijacked struct {
	net.Conn
	r io.Reader
}

func (h hijacked) Read(p []byte) (int, error) { return h.r.Read(p) }
