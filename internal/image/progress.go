package image

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// step prints "==> what" and returns a func that prints how long it took.
func step(out io.Writer, format string, args ...any) func() {
	what := fmt.Sprintf(format, args...)
	fmt.Fprintf(out, "==> %s\n", what)
	start := time.Now()
	return func() { fmt.Fprintf(out, "    %s: done in %s\n", what, since(start)) }
}

func since(t time.Time) string { return time.Since(t).Round(10 * time.Millisecond).String() }

// stepMarker starts a line the build script prints to begin a timed step.
const stepMarker = "@@step "

// scriptOutput passes a build script's output through line by line, turning
// its step markers into the same "==> step" lines and timings step prints.
type scriptOutput struct {
	out  io.Writer
	buf  []byte
	done func()
}

func (s *scriptOutput) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(s.buf[:i+1])
		s.buf = s.buf[i+1:]
		// Progress meters (dpkg's "Reading database ... 5%") redraw with
		// carriage returns; keep only the final state of the line.
		if j := strings.LastIndexByte(strings.TrimRight(line, "\r\n"), '\r'); j >= 0 {
			line = line[j+1:]
		}
		if strings.HasPrefix(line, stepMarker) {
			s.finish()
			s.done = step(s.out, "%s", strings.TrimSpace(strings.TrimPrefix(line, stepMarker)))
			continue
		}
		io.WriteString(s.out, line)
	}
}

// Close flushes a partial last line and ends the timing of a step that
// completed; a failed step is left open so its timing is not mistaken for success.
func (s *scriptOutput) Close(ok bool) {
	if len(s.buf) > 0 {
		s.out.Write(append(s.buf, '\n'))
		s.buf = nil
	}
	if ok {
		s.finish()
	}
}

func (s *scriptOutput) finish() {
	if s.done != nil {
		s.done()
		s.done = nil
	}
}

// maxReplay bounds how much build output is kept for callers that join a
// build already running.
const maxReplay = 1 << 20

// fanout copies one build's output to every caller waiting for that build,
// replaying what was written before a caller joined.
type fanout struct {
	mu        sync.Mutex
	hist      bytes.Buffer
	truncated bool
	subs      []*subscriber
}

func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.truncated {
		if f.hist.Len()+len(p) > maxReplay {
			f.truncated = true
			f.hist = bytes.Buffer{}
		} else {
			f.hist.Write(p)
		}
	}
	for _, w := range f.subs {
		// One slow or broken reader must not fail the build for everyone.
		w.w.Write(p)
	}
	return len(p), nil
}

// attach replays the output so far to w and streams the rest; the returned
// func stops the streaming.
func (f *fanout) attach(w io.Writer) (detach func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.truncated {
		w.Write(f.hist.Bytes())
	}
	sub := &subscriber{w}
	f.subs = append(f.subs, sub)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, s := range f.subs {
			if s == sub {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				return
			}
		}
	}
}

type subscriber struct{ w io.Writer }
