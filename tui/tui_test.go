package tui_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"gasper/api"
	"gasper/tui"
	"gasper/tui/tuitest"
)

// now is the dashboard's clock in tests, so "5m ago" is stable.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func ptr[T any](v T) *T { return &v }

// seed returns a fake master with the apps, databases, nodes and users the
// frames show, and its admin's client.
func seed() *tuitest.Fake {
	f := tuitest.NewFake("ada@example.com", func() time.Time { return now })
	bob := f.AddUser("bob@example.com", false)
	f.PutApp(api.App{Name: "web", Status: api.AppRunning, Release: 3, Runtime: "nodejs",
		Config:   api.AppConfig{Runtime: "nodejs", MemoryBytes: 256 << 20, CPUs: 0.5},
		EnvNames: []string{"GREETING", "DATABASE_URL"}, URLs: []string{"http://web.apps.example.com"},
		Address: "127.0.0.2:30001", CreatedAt: ago(72 * time.Hour), UpdatedAt: ago(5 * time.Minute),
		Instances: []api.Instance{{ID: "web-3-a1b2c3d4e5f6a7b8", Node: "n1", NodeName: "node1", Address: "127.0.0.2:30001",
			Release: 3, State: "healthy", StartedAt: ptr(ago(5 * time.Minute))}}},
		api.Release{App: "web", Number: 3, Status: api.ReleaseReady, Cause: "rollback to 1", Current: true, CreatedAt: ago(5 * time.Minute)},
		api.Release{App: "web", Number: 2, Status: api.ReleaseFailed, Cause: "deploy", Error: "npm ERR! missing script: start", CreatedAt: ago(time.Hour)},
		api.Release{App: "web", Number: 1, Status: api.ReleaseReady, Cause: "deploy", BuildTime: "12s", CreatedAt: ago(26 * time.Hour)},
	)
	f.PutApp(api.App{Name: "api", Status: api.AppCrashLoop, StatusReason: "exited with code 1", Release: 1, Runtime: "python3",
		URLs: []string{"http://api.apps.example.com"}, CreatedAt: ago(3 * time.Hour), UpdatedAt: ago(2 * time.Minute),
		Instances: []api.Instance{{ID: "api-1-0f0e0d0c0b0a", Node: "n2", NodeName: "node2", Release: 1, State: "crashloop",
			Restarts: 4, ExitCode: 1, LastLog: "Traceback (most recent call last):\nKeyError: 'DATABASE_URL'"}}})
	f.PutApp(api.App{Name: "worker", Status: api.AppBuilding, Release: 0, URLs: []string{"http://worker.apps.example.com"},
		CreatedAt: ago(30 * time.Second), UpdatedAt: ago(30 * time.Second)})
	bob.PutApp(api.App{Name: "blog", Status: api.AppRunning, Release: 7, Runtime: "php", URLs: []string{"http://blog.apps.example.com"},
		CreatedAt: ago(240 * time.Hour), UpdatedAt: ago(49 * time.Hour),
		Instances: []api.Instance{{ID: "blog-7-99", Node: "n1", NodeName: "node1", Release: 7, State: "healthy"}}})
	f.PutDatabase(api.Database{Name: "pg", Engine: "postgresql", Status: api.DBReady, Node: "n1", NodeName: "node1",
		Host: "pg.db.apps.example.com", Address: "127.0.0.2:31001", Port: 5432, DBName: "pg", User: "pg",
		URL: "postgresql://pg:****@pg.db.apps.example.com:5432/pg", MemoryBytes: 256 << 20, Links: []string{"web"}, CreatedAt: ago(48 * time.Hour)})
	f.PutDatabase(api.Database{Name: "cache", Engine: "redis", Status: api.DBCreating, Node: "n2", NodeName: "node2",
		Host: "cache.db.apps.example.com", MemoryBytes: 64 << 20, Links: []string{}, CreatedAt: ago(10 * time.Second)})
	f.PutNode(api.Node{ID: "n1", Hostname: "node1", Advertise: "127.0.0.2", Roles: []string{"app", "db", "proxy", "dns"},
		State: api.NodeReady, Connected: true, JoinedAt: ago(96 * time.Hour), LastSeen: ptr(ago(time.Second)),
		Facts: api.NodeFacts{CPUs: 2, MemoryBytes: 24 << 30, DiskBytes: 100 << 30, ContainerdVersion: "1.6.20", KernelVersion: "6.1.0",
			AgentVersion: "dev", OS: "linux", Arch: "amd64"},
		Usage: api.NodeUsage{CPUPercent: 12, MemoryUsedBytes: 3 << 30, DiskUsedBytes: 20 << 30, Load1: 0.42}})
	f.PutNode(api.Node{ID: "n2", Hostname: "node2", Advertise: "127.0.0.3", Roles: []string{"app", "ssh"},
		State: api.NodeDown, Connected: false, JoinedAt: ago(50 * time.Hour), LastSeen: ptr(ago(10 * time.Minute)),
		Facts: api.NodeFacts{CPUs: 2, MemoryBytes: 8 << 30}})
	f.Print("web", "listening on :8080", "GET / 200 1.2ms", "GET /health 200 0.3ms", "GET /missing 404 0.4ms")
	return f
}

// packs records what the dashboard asked to pack.
type packs struct{ dirs []string }

func (p *packs) pack(dir string) (io.Reader, func(), error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("pack %s: %w", dir, errors.Unwrap(err))
	}
	p.dirs = append(p.dirs, dir)
	return strings.NewReader("gzip'd tar"), func() {}, nil
}

type run struct {
	tm   *teatest.TestModel
	fake *tuitest.Fake
	p    *packs
	// out is all the output so far; wait looks at it from from on, which
	// keys moves to its end.
	out  bytes.Buffer
	from int
}

func start(t *testing.T, f *tuitest.Fake, w, h int, interval time.Duration) *run {
	t.Helper()
	p := &packs{}
	m := tui.New(tui.Config{Client: f, Pack: p.pack, Master: "http://127.0.0.1:7080", Interval: interval,
		NoColor: true, Now: func() time.Time { return now }})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	r := &run{tm: tm, fake: f, p: p}
	t.Cleanup(func() { tm.Quit() })
	r.wait(t, "Users (2)") // every list arrived (nodes and users come after whoami)
	return r
}

// keys sends key presses: names like "enter", "esc", "tab", or text typed
// as runes.
func (r *run) keys(names ...string) {
	if len(names) > 0 {
		r.drain()
		r.from = r.out.Len()
	}
	for _, n := range names {
		switch n {
		case "enter":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "esc":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
		case "tab":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		case "down":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyDown})
		case "right":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyRight})
		case "backspace":
			r.tm.Send(tea.KeyMsg{Type: tea.KeyBackspace})
		default:
			r.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(n)})
		}
	}
}

// wait reads the output until it shows text (the screen is drawn as it
// changes, so text on the screen appears in the stream).
func (r *run) wait(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.drain()
		if bytes.Contains(r.out.Bytes()[r.from:], []byte(text)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %q on the screen; output since the last keys:\n%s", text, r.out.Bytes()[r.from:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *run) drain() { io.Copy(&r.out, r.tm.Output()) }

// frame quits and returns the last screen.
func (r *run) frame(t *testing.T) string {
	t.Helper()
	r.tm.Quit()
	return r.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).View()
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name string
		w, h int
		keys []string
		wait string
	}{
		{"apps", 80, 24, nil, "worker"},
		{"databases", 80, 24, []string{"2"}, "cache"},
		{"nodes", 80, 24, []string{"3"}, "node2"},
		{"users", 80, 24, []string{"4"}, "bob@example.com"},
		{"app_detail", 80, 24, []string{"down", "down", "enter"}, "Instances"},
		{"app_detail_events", 80, 24, []string{"down", "down", "enter", "wait:Instances", "G"}, "missing script"},
		{"app_crashloop", 80, 24, []string{"enter"}, "crashloop, exit code 1"},
		{"db_detail", 80, 24, []string{"2", "down", "enter"}, "Linked apps"},
		{"node_detail", 80, 24, []string{"3", "enter"}, "App instances"},
		{"logs", 80, 24, []string{"down", "down", "l"}, "404"},
		{"logs_search", 80, 24, []string{"down", "down", "l", "wait:404", "/", "200", "enter"}, "2 of 4 lines match"},
		{"filter", 80, 24, []string{"/", "w"}, "/w"},
		{"sorted", 80, 24, []string{"s", "S"}, "STATUS ↓"},
		{"help", 80, 24, []string{"?"}, "reverse"},
		{"create_app_form", 80, 24, []string{"n"}, "Directory"},
		{"create_db_form", 80, 24, []string{"2", "n"}, "Engine"},
		{"delete_confirm", 80, 24, []string{"d", "we"}, "Type"},
		{"scale_form", 80, 24, []string{"down", "down", "+"}, "0 to 100"},
		{"narrow", 60, 20, nil, "worker"},
		{"apps_wide", 160, 48, nil, "worker"},
		{"databases_wide", 160, 48, []string{"2"}, "cache"},
		{"nodes_wide", 160, 48, []string{"3"}, "node2"},
		{"users_wide", 160, 48, []string{"4"}, "bob@example.com"},
		{"app_detail_wide", 160, 48, []string{"down", "down", "enter"}, "Recent events"},
		{"logs_wide", 160, 48, []string{"down", "down", "l"}, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, seed(), tt.w, tt.h, time.Hour)
			for _, k := range tt.keys {
				if w, ok := strings.CutPrefix(k, "wait:"); ok {
					r.wait(t, w)
				} else {
					r.keys(k)
				}
			}
			r.wait(t, tt.wait)
			f := r.frame(t)
			checkFrame(t, f, tt.w, tt.h)
			golden.RequireEqual(t, []byte(f))
		})
	}
}

// checkFrame checks that a frame fills the terminal exactly, with no
// colour (NO_COLOR) and no line that would wrap.
func checkFrame(t *testing.T, f string, w, h int) {
	t.Helper()
	lines := strings.Split(f, "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d wide, more than %d: %q", i+1, n, w, l)
		}
	}
	if strings.Contains(f, "\x1b[") {
		t.Errorf("frame has escape sequences with NoColor: %q", f)
	}
}

func TestActions(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		wait  string
		calls []string
	}{
		{"restart", []string{"down", "down", "r", "y"}, "Restarted web", []string{"restart web"}},
		{"restart declined", []string{"down", "down", "r", "n"}, "Cancelled", nil},
		{"rebuild from the detail", []string{"down", "down", "enter", "b", "y"}, "Building release 4 of web", []string{"rebuild web"}},
		{"rollback", []string{"down", "down", "u", "y"}, "Rolling web back: release 4 (rollback to 1)", []string{"rollback web to 1"}},
		{"delete needs the name", []string{"down", "down", "d", "wbe", "enter"}, `"wbe" is not "web"`, nil},
		{"delete", []string{"down", "down", "d", "web", "enter"}, "Deleted app web", []string{"delete app web"}},
		{"create app", []string{"n", "shop", "tab", "backspace", os.TempDir(), "tab", "right", "enter"}, "Created shop; building release 1",
			[]string{"create app shop", "upload shop"}},
		{"create app from a missing directory", []string{"n", "shop", "tab", "backspace", "/nonexistent/dir", "enter", "enter"},
			"pack /nonexistent/dir", nil},
		{"create app with a bad name", []string{"n", "Shop!", "enter", "enter", "enter"}, "app name", nil},
		{"create database", []string{"2", "n", "queue", "tab", "right", "right", "tab", "64M", "enter"}, "Created redis database queue",
			[]string{"create database queue redis"}},
		{"bad memory", []string{"2", "n", "queue", "tab", "tab", "lots", "enter"}, "memory:", nil},
		{"link", []string{"2", "down", "a", "api", "enter"}, "Linked pg to api", []string{"link pg api"}},
		{"link a database that is not ready", []string{"2", "a", "api", "enter"}, "has no address yet", nil},
		{"link to a missing app", []string{"2", "a", "nope", "enter"}, `no app "nope" here`, nil},
		{"unlink", []string{"2", "down", "x", "enter"}, "Unlinked pg from web", []string{"unlink pg web"}},
		{"remove node", []string{"3", "down", "d", "node2", "enter"}, "Deleted node node2", []string{"remove node node2"}},
		{"cordon node", []string{"3", "down", "c", "y"}, "Cordoned node node2", []string{"cordon node node2"}},
		{"drain node", []string{"3", "down", "D", "y"}, "Draining node node2: 0 apps to move", []string{"cordon node node2", "drain node node2"}},
		{"scale", []string{"down", "down", "+", "backspace", "3", "enter"}, "Scaling web to 3 replicas (3 running)", []string{"scale web to 3"}},
		{"scale to a bad number", []string{"down", "down", "+", "backspace", "x", "enter"}, "type a number from 0 to 100", nil},
		{"restart an app that failed", []string{"down", "down", "down", "r", "y"}, "has no release to restart", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, seed(), 100, 30, time.Hour)
			r.keys(tt.keys...)
			r.wait(t, tt.wait)
			if got := r.fake.Calls(); !slices.Equal(got, tt.calls) {
				t.Errorf("calls = %q, want %q", got, tt.calls)
			}
		})
	}
}

func TestCreateAppPacksTheDirectory(t *testing.T) {
	r := start(t, seed(), 100, 30, time.Hour)
	dir := t.TempDir()
	r.keys("n", "shop", "tab", "backspace", dir, "enter", "enter")
	r.wait(t, "Created shop")
	if !slices.Equal(r.p.dirs, []string{dir}) {
		t.Errorf("packed %q, want %q", r.p.dirs, dir)
	}
	// The new app shows in the list once built (the fake builds at once).
	r.wait(t, "shop")
}

func TestLiveUpdate(t *testing.T) {
	f := seed()
	r := start(t, f, 100, 30, 50*time.Millisecond)
	f.PutApp(api.App{Name: "zeta", Status: api.AppDeploying, CreatedAt: now, UpdatedAt: now})
	r.wait(t, "zeta")
	r.wait(t, "Apps (5)")
}

func TestLogsFollow(t *testing.T) {
	f := seed()
	r := start(t, f, 100, 30, time.Hour)
	r.keys("down", "down", "l")
	r.wait(t, "GET /missing")
	f.Print("web", "a line printed after the view opened")
	r.wait(t, "a line printed after the view opened")
	r.keys("f") // pause: new lines still arrive, the view stays put
	r.wait(t, "paused")
	r.keys("esc", "esc")
	r.wait(t, "RUNTIME")
}

func TestPlainUserSeesNoAdminTabs(t *testing.T) {
	f := seed().AddUser("carol@example.com", false)
	f.PutApp(api.App{Name: "notes", Status: api.AppRunning, Release: 1, CreatedAt: now, UpdatedAt: now})
	p := &packs{}
	m := tui.New(tui.Config{Client: f, Pack: p.pack, NoColor: true, Interval: time.Hour, Now: func() time.Time { return now }})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	r := &run{tm: tm, fake: f, p: p}
	r.wait(t, "carol@example.com")
	r.wait(t, "notes")
	r.keys("3") // no third tab
	frame := r.frame(t)
	if strings.Contains(frame, "Nodes") || strings.Contains(frame, "Users") || strings.Contains(frame, "web") {
		t.Errorf("a plain user's dashboard shows admin tabs or others' apps:\n%s", frame)
	}
}

func TestResize(t *testing.T) {
	r := start(t, seed(), 80, 24, time.Hour)
	r.tm.Send(tea.WindowSizeMsg{Width: 50, Height: 12})
	r.keys("enter")
	r.wait(t, "Release")
	checkFrame(t, r.frame(t), 50, 12)
}

func TestQuitEndsTheProgram(t *testing.T) {
	r := start(t, seed(), 80, 24, time.Hour)
	r.keys("q")
	r.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestFramesAreStable guards the goldens' premise: a frame depends on the
// data and the clock only, so two runs draw the same screen.
func TestFramesAreStable(t *testing.T) {
	var frames []string
	for range 2 {
		r := start(t, seed(), 80, 24, time.Hour)
		r.keys("down", "down", "enter", "G")
		r.wait(t, "rollback to 1")
		frames = append(frames, r.frame(t))
	}
	if frames[0] != frames[1] {
		t.Errorf("two runs drew different frames:\n%s\n---\n%s", frames[0], frames[1])
	}
	if regexp.MustCompile(`\d+ms`).MatchString(frames[0]) {
		t.Errorf("frame shows a duration that depends on timing:\n%s", frames[0])
	}
}
