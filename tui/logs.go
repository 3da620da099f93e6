package tui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

// maxLogLines bounds what the log view keeps; older lines scroll away.
const maxLogLines = 5000

// logView follows one app's logs: new lines arrive while it is open, the
// view sticks to the bottom unless the user scrolled up (or paused with f),
// and a search shows only the lines holding its text.
type logView struct {
	app    string
	gen    int
	lines  []string
	vp     viewport.Model
	follow bool
	ended  string

	search    string
	searching bool
	searchIn  textinput.Model

	cancel context.CancelFunc
}

// logGen tells stale stream messages (from a view since closed) apart.
var logGen int

type (
	logOpenedMsg struct {
		gen int
		ch  <-chan logItem
		err error
	}
	logLinesMsg struct {
		gen   int
		lines []string
		end   bool
		err   error
		ch    <-chan logItem
	}
	logItem struct {
		line string
		err  error
		end  bool
	}
)

// openLogs switches to the log view of app and starts following it.
func (m *Model) openLogs(app string) tea.Cmd {
	if m.logs != nil {
		m.logs.stop()
	}
	logGen++
	ctx, cancel := context.WithCancel(m.ctx)
	in := textinput.New()
	in.Prompt = "search: "
	lv := &logView{app: app, gen: logGen, follow: true, cancel: cancel, searchIn: in, vp: viewport.New(m.width, m.bodyHeight()-1)}
	m.logs, m.mode, m.detail = lv, modeLogs, app
	m.layout()
	lv.render()
	c, tail, gen := m.cfg.Client, m.cfg.LogTail, lv.gen
	return func() tea.Msg {
		rc, err := c.Logs(ctx, app, true, tail)
		if err != nil {
			return logOpenedMsg{gen: gen, err: err}
		}
		ch := make(chan logItem, 256)
		go readLines(ctx, rc, ch)
		return logOpenedMsg{gen: gen, ch: ch}
	}
}

// readLines sends rc's lines to ch, then one item with end set.
func readLines(ctx context.Context, rc io.ReadCloser, ch chan<- logItem) {
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		select {
		case ch <- logItem{line: sc.Text()}:
		case <-ctx.Done():
			return
		}
	}
	err := sc.Err()
	if ctx.Err() != nil {
		return
	}
	select {
	case ch <- logItem{end: true, err: err}:
	case <-ctx.Done():
	}
}

// nextLines waits for the next lines of the stream and takes every line
// already there with them, so a burst is drawn once.
func nextLines(gen int, ch <-chan logItem) tea.Cmd {
	return func() tea.Msg {
		msg := logLinesMsg{gen: gen, ch: ch}
		it := <-ch
		for {
			if it.end {
				msg.end, msg.err = true, it.err
				return msg
			}
			msg.lines = append(msg.lines, it.line)
			if len(msg.lines) >= 500 {
				return msg
			}
			select {
			case it = <-ch:
			case <-time.After(20 * time.Millisecond):
				return msg
			}
		}
	}
}

func (lv *logView) stop() { lv.cancel() }

func (lv *logView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case logOpenedMsg:
		if msg.gen != lv.gen {
			return nil
		}
		if msg.err != nil {
			lv.ended = "cannot follow the logs: " + msg.err.Error()
			lv.render()
			return nil
		}
		return nextLines(lv.gen, msg.ch)
	case logLinesMsg:
		if msg.gen != lv.gen {
			return nil
		}
		lv.lines = append(lv.lines, msg.lines...)
		if over := len(lv.lines) - maxLogLines; over > 0 {
			lv.lines = append(lv.lines[:0:0], lv.lines[over:]...)
		}
		if msg.end {
			lv.ended = "the log stream ended"
			if msg.err != nil {
				lv.ended += ": " + msg.err.Error()
			}
			lv.ended += "; esc and l to follow again"
		}
		lv.render()
		if msg.end {
			return nil
		}
		return nextLines(lv.gen, msg.ch)
	}
	return nil
}

// shown are the lines the search lets through.
func (lv *logView) shown() []string {
	if lv.search == "" {
		return lv.lines
	}
	q := strings.ToLower(lv.search)
	var out []string
	for _, l := range lv.lines {
		if strings.Contains(strings.ToLower(l), q) {
			out = append(out, l)
		}
	}
	return out
}

func (lv *logView) render() {
	lv.vp.SetContent(strings.Join(lv.shown(), "\n"))
	if lv.follow {
		lv.vp.GotoBottom()
	}
}

func (lv *logView) resize(w, h int) {
	lv.vp.Width, lv.vp.Height = w, max(h, 1)
	lv.render()
}

// key handles the log view's own keys; handled is false for the keys it
// leaves to the dashboard (esc, q, ?).
func (lv *logView) key(m *Model, msg tea.KeyMsg) (cmd tea.Cmd, handled bool) {
	if lv.searching {
		switch msg.String() {
		case "esc":
			lv.searching = false
			lv.search = ""
			lv.searchIn.SetValue("")
			lv.searchIn.Blur()
		case "enter":
			lv.searching = false
			lv.searchIn.Blur()
		default:
			lv.searchIn, cmd = lv.searchIn.Update(msg)
			lv.search = lv.searchIn.Value()
		}
		lv.render()
		return cmd, true
	}
	k := m.keys
	switch {
	case key.Matches(msg, k.Search):
		lv.searching = true
		lv.searchIn.CursorEnd()
		return lv.searchIn.Focus(), true
	case key.Matches(msg, k.Follow):
		lv.follow = !lv.follow
		if lv.follow {
			lv.vp.GotoBottom()
		}
	case key.Matches(msg, k.Up):
		lv.follow = false
		lv.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		lv.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		lv.follow = false
		lv.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		lv.vp.PageDown()
	case key.Matches(msg, k.Top):
		lv.follow = false
		lv.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		lv.follow = true
		lv.vp.GotoBottom()
	case msg.String() == "esc" && lv.search != "":
		lv.search = ""
		lv.searchIn.SetValue("")
		lv.render()
	default:
		return nil, false
	}
	return nil, true
}

func (lv *logView) view(m *Model) []string {
	var info string
	switch {
	case lv.searching:
		info = lv.searchIn.View()
	default:
		shown := lv.shown()
		info = fmt.Sprintf("%s: %d lines", lv.app, len(lv.lines))
		if lv.search != "" {
			info = fmt.Sprintf("%s: %d of %d lines match %q", lv.app, len(shown), len(lv.lines), lv.search)
		}
		if lv.follow {
			info += " · following"
		} else {
			info += " · paused (f follows)"
		}
		if lv.ended != "" {
			info += " · " + lv.ended
		}
		info = m.st.dim.Render(info)
	}
	lines := []string{info}
	if len(lv.lines) == 0 && lv.ended == "" {
		return append(lines, "  waiting for lines…")
	}
	return append(lines, strings.Split(lv.vp.View(), "\n")...)
}
