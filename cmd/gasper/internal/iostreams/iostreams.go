package iostreams

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams are the streams a command reads and writes: data goes to Out,
// messages and prompts to ErrOut.
type IOStreams struct {
	// In is standard input.
	In io.Reader
	// Out is standard output, for data (tables, JSON, secrets).
	Out io.Writer
	// ErrOut is standard error, for messages, prompts and errors.
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	// stdinFd is In's file descriptor when In is a real terminal, else -1;
	// it is what lets a password be read without echo.
	stdinFd int
	// lines buffers In so successive prompts do not lose each other's input.
	lines *bufio.Reader
}

// System returns the process's standard streams.
func System() *IOStreams {
	s := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, stdinFd: -1}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		s.stdinTTY, s.stdinFd = true, fd
	}
	s.stdoutTTY = term.IsTerminal(int(os.Stdout.Fd()))
	s.stderrTTY = term.IsTerminal(int(os.Stderr.Fd()))
	return s
}

// Test returns streams backed by buffers: in is what the command will read,
// out and errOut collect what it writes. None of them is a terminal until
// SetStdinTTY, SetStdoutTTY or SetStderrTTY says otherwise.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, stdinFd: -1}, in, out, errOut
}

// IsStdinTTY reports whether standard input is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// SetStdinTTY overrides whether standard input counts as a terminal (tests).
func (s *IOStreams) SetStdinTTY(v bool) { s.stdinTTY = v }

// IsStdoutTTY reports whether standard output is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// SetStdoutTTY overrides whether standard output counts as a terminal (tests).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }

// IsStderrTTY reports whether standard error is a terminal, where progress
// (a spinner) may redraw its line.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStderrTTY overrides whether standard error counts as a terminal (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// StdinFd is standard input's file descriptor when it is a real terminal,
// else -1: what raw mode and the window size need.
func (s *IOStreams) StdinFd() int { return s.stdinFd }

// CanPrompt reports whether a person can answer questions: only when
// standard input is a terminal.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY }

func (s *IOStreams) reader() *bufio.Reader {
	if s.lines == nil {
		s.lines = bufio.NewReader(s.In)
	}
	return s.lines
}

// Prompt writes label to ErrOut and returns the line read from In, trimmed.
func (s *IOStreams) Prompt(label string) (string, error) {
	fmt.Fprint(s.ErrOut, label)
	line, err := s.reader().ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// PromptPassword writes label to ErrOut and reads a password, without echo
// when In is a real terminal. The password is not trimmed beyond its line end.
func (s *IOStreams) PromptPassword(label string) (string, error) {
	fmt.Fprint(s.ErrOut, label)
	if s.stdinFd >= 0 {
		b, err := term.ReadPassword(s.stdinFd)
		fmt.Fprintln(s.ErrOut) // the user's Enter was not echoed either
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := s.reader().ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// ReadAll reads the rest of In, dropping the line ends at its end, as
// --password-stdin wants (echo "$PW" | gasper login --password-stdin).
func (s *IOStreams) ReadAll() (string, error) {
	b, err := io.ReadAll(s.reader())
	if err != nil {
		return "", fmt.Errorf("read standard input: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Confirm asks a yes/no question on the terminal; only "y" or "yes" is yes.
func (s *IOStreams) Confirm(question string) (bool, error) {
	ans, err := s.Prompt(question + " [y/N]: ")
	if err != nil {
		return false, err
	}
	ans = strings.ToLower(ans)
	return ans == "y" || ans == "yes", nil
}
