package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// spinnerFrames are drawn in turn while a long step runs.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// progress prints a build's lines to w and, on a terminal, keeps a spinner
// line under them with the current step and the time elapsed. Off a
// terminal it prints the lines alone, and each new step once, so logs of CI
// runs stay readable.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	now   func() time.Time

	mu    sync.Mutex
	step  string
	frame int
	drawn bool
	stop  chan struct{}
	done  chan struct{}
}

// newProgress starts a progress display on w; with tty a goroutine redraws
// the spinner until close.
func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	p := &progress{w: w, tty: tty, now: now, start: now(), stop: make(chan struct{}), done: make(chan struct{})}
	if !tty {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.frame++
				p.redrawLocked()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// line prints one line of output above the spinner.
func (p *progress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(p.w, s)
	if strings.HasPrefix(s, "==> ") {
		// Builds announce their steps so; the spinner shows the latest.
		p.step = strings.TrimPrefix(s, "==> ")
	}
	p.redrawLocked()
}

// setStep changes what the spinner says; off a terminal it is printed once.
func (p *progress) setStep(step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if step == p.step {
		return
	}
	p.step = step
	if !p.tty {
		fmt.Fprintln(p.w, step)
		return
	}
	p.redrawLocked()
}

// close stops the spinner and erases its line.
func (p *progress) close() {
	select {
	case <-p.stop:
		return
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *progress) clearLocked() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *progress) redrawLocked() {
	if !p.tty || p.step == "" {
		return
	}
	p.clearLocked()
	elapsed := p.now().Sub(p.start).Truncate(time.Second)
	step := p.step
	if r := []rune(step); len(r) > 60 {
		// A wrapped line could not be erased with one carriage return.
		step = string(r[:59]) + "…"
	}
	fmt.Fprintf(p.w, "%s %s (%s)", spinnerFrames[p.frame%len(spinnerFrames)], step, elapsed)
	p.drawn = true
}
