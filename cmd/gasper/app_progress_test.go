package main

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedBuffer is a buffer the spinner's goroutine and the test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgress(t *testing.T) {
	var elapsed atomic.Int64 // the spinner's goroutine reads the clock too
	now := func() time.Time { return testNow.Add(time.Duration(elapsed.Load())) }

	t.Run("terminal", func(t *testing.T) {
		var out lockedBuffer
		p := newProgress(&out, true, now)
		p.setStep("Building release 1 of web")
		elapsed.Store(int64(12 * time.Second))
		p.line("==> Installing dependencies")
		p.line("added 3 packages")
		p.close()
		got := out.String()
		for _, want := range []string{
			"Building release 1 of web (0s)",
			"\r\x1b[K==> Installing dependencies\n",
			"Installing dependencies (12s)",
			"\r\x1b[Kadded 3 packages\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("output does not contain %q:\n%q", want, got)
			}
		}
		if !strings.HasSuffix(got, "\r\x1b[K") {
			t.Errorf("the spinner line is not erased at the end: %q", got)
		}
	})

	t.Run("not a terminal", func(t *testing.T) {
		var out lockedBuffer
		p := newProgress(&out, false, now)
		p.setStep("Waiting for web: deploying")
		p.setStep("Waiting for web: deploying") // unchanged: not repeated
		p.line("a line")
		p.close()
		if want := "Waiting for web: deploying\na line\n"; out.String() != want {
			t.Errorf("output = %q, want %q", out.String(), want)
		}
	})
}
