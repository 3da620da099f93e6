package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gasper/api"
	"gasper/api/client"
	"gasper/tui/tuitest"
)

// apiClient logs in to the cluster's master as email through the typed
// client, as the dashboard does.
func (c *cluster) apiClient(email, password string) *client.Client {
	c.t.Helper()
	cl := client.New("http://" + c.api)
	if _, err := cl.Login(context.Background(), email, password); err != nil {
		c.t.Fatalf("login %s: %v", email, err)
	}
	return cl
}

// contractEnv is a fresh master's admin and a plain user, for tuitest.Contract.
func (c *cluster) contractEnv() tuitest.Env {
	c.t.Helper()
	admin := c.apiClient(adminEmail, adminPassword)
	if _, err := admin.CreateUser(context.Background(), api.CreateUserRequest{Email: "plain@example.com", Password: "plain-password-1"}); err != nil {
		c.t.Fatalf("create user: %v", err)
	}
	return tuitest.Env{Admin: admin, User: c.apiClient("plain@example.com", "plain-password-1")}
}

// TestDashboardClientContract runs the contract the dashboard's fake keeps
// against the real client and a real master (no node needed).
func TestDashboardClientContract(t *testing.T) {
	c := newCluster(t)
	tuitest.Contract(t, c.contractEnv())
}

// tarGz packs dir as a source upload.
func tarGz(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// tmux is one tmux server of a test's own (its own socket), with one
// session, "dash".
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T, w, h int, env []string, command ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed, and CI must run every test (scripts/lib.sh installs it)")
		}
		t.Skip("tmux is not installed: apt-get install tmux")
	}
	tm := &tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	args := append([]string{"new-session", "-d", "-s", "dash", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)}, command...)
	cmd := exec.Command("tmux", append([]string{"-S", tm.sock, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(cleanEnv(), append([]string{"TERM=xterm-256color", "LANG=C.UTF-8"}, env...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends keys as tmux names them ("Enter", "Escape", "q").
func (tm *tmux) keys(keys ...string) { tm.run(append([]string{"send-keys", "-t", "dash"}, keys...)...) }

// screen is what the pane shows now.
func (tm *tmux) screen() string { return tm.run("capture-pane", "-p", "-t", "dash") }

// waitScreen waits until the pane shows every one of texts and returns it.
func (tm *tmux) waitScreen(within time.Duration, texts ...string) string {
	tm.t.Helper()
	var s string
	deadline := time.Now().Add(within)
	for {
		s = tm.screen()
		ok := true
		for _, x := range texts {
			ok = ok && strings.Contains(s, x)
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out after %s waiting for %q on the screen; it shows:\n%s", within, texts, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tm *tmux) resize(w, h int) {
	tm.run("resize-window", "-t", "dash", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h))
}

// saveFrame writes the screen to $GASPER_DASHBOARD_FRAMES/name.txt when
// that is set (docs/dashboard-frames is made so).
func saveFrame(t *testing.T, name, screen string) {
	dir := os.Getenv("GASPER_DASHBOARD_FRAMES")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(screen), 0o644); err != nil {
		t.Errorf("save frame: %v", err)
	}
}

// TestDashboard deploys an app that prints a line every second, then
// drives `gasper dashboard` in tmux as a person would: open the app, follow
// its logs, restart it, quit.
func TestDashboard(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	c.agent("node1", "127.0.0.2", c.joinToken())
	c.waitNode("node1", "ready", 30*time.Second)

	// The real client keeps the fake's contract for deploys too.
	t.Run("contract", func(t *testing.T) {
		src := tarGz(t, copyExample(t, "static"))
		env := c.contractEnv()
		env.Source = func() io.Reader { return bytes.NewReader(src) }
		env.Wait = 3 * time.Minute
		tuitest.Contract(t, env)
	})

	src := copyExample(t, "static")
	c.ok("", "app", "create", "web", "--from", src, "--wait-timeout", "3m",
		"--start-cmd", `i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 1; done & exec busybox httpd -f -v -p "0.0.0.0:$PORT" -h /app`)
	before := c.waitApp("web", "running", 1, time.Minute)
	if _, err := c.apiClient(adminEmail, adminPassword).CreateDatabase(context.Background(),
		api.CreateDatabaseRequest{Name: "cache", Engine: "redis", MemoryBytes: 64 << 20}); err != nil {
		t.Fatalf("create database: %v", err)
	}

	tm := newTmux(t, 120, 40, nil, "/bin/sh")
	tm.keys(fmt.Sprintf("GASPER_CONFIG_DIR=%s %s dashboard; echo dashboard-exit=$?", c.cliConfig, filepath.Join(bin, "gasper")), "Enter")
	tm.waitScreen(20*time.Second, "Apps (1)", "web", "running", "Nodes (1)", "Databases (1)")
	if on := strings.TrimSpace(tm.run("display-message", "-p", "-t", "dash", "#{alternate_on}")); on != "1" {
		t.Errorf("alternate screen while the dashboard runs: %q, want 1", on)
	}

	// Frames of each tab at both sizes, for the docs.
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		tm.resize(size[0], size[1])
		for i, name := range []string{"apps", "databases", "nodes", "users"} {
			tm.keys(strconv.Itoa(i + 1))
			s := tm.waitScreen(10*time.Second, "["+strconv.Itoa(i+1)+" ")
			saveFrame(t, fmt.Sprintf("%s-%dx%d", name, size[0], size[1]), s)
		}
	}
	tm.resize(120, 40)
	tm.keys("1")

	// Open the app: its detail shows the running instance.
	tm.keys("Enter")
	tm.waitScreen(10*time.Second, "Instances", "healthy", "node1", "Recent events")

	// Follow its logs: the ticks the app prints appear, and keep coming.
	tm.keys("l")
	s := tm.waitScreen(20*time.Second, "tick ")
	first := maxTick(s)
	waitFor(t, 20*time.Second, fmt.Sprintf("a tick after %d on the followed log", first), func() bool { return maxTick(tm.screen()) > first })
	saveFrame(t, "logs-120x40", tm.screen())

	// Restart from the keyboard: the master replaces the instance.
	tm.keys("Escape")
	tm.waitScreen(10*time.Second, "Instances")
	tm.keys("r")
	tm.waitScreen(10*time.Second, "Restart web?")
	tm.keys("y")
	tm.waitScreen(20*time.Second, "Restarted web")
	waitFor(t, time.Minute, "the master to run web on a fresh instance", func() bool {
		a := c.app("web")
		return a.Status == "running" && len(a.Instances) == 1 && a.Instances[0].ID != before.Instances[0].ID
	})
	if n := restarts(t, c, "web"); n != 1 {
		t.Errorf("the master's audit log has %d restarts of web, want 1", n)
	}

	// Quit: the shell gets its terminal back, off the alternate screen.
	tm.keys("q")
	s = tm.waitScreen(10*time.Second, "dashboard-exit=0")
	if on := strings.TrimSpace(tm.run("display-message", "-p", "-t", "dash", "#{alternate_on}")); on != "0" {
		t.Errorf("alternate screen after quitting: %q, want 0", on)
	}
	if strings.Contains(s, "Recent events") || strings.Contains(s, "(admin)") {
		t.Errorf("the dashboard is still on the screen after quitting:\n%s", s)
	}
	// The marker is computed so the echoed command line does not match it.
	tm.keys("stty -a | head -1; echo tty-$((40+2))", "Enter")
	if s := tm.waitScreen(5*time.Second, "tty-42"); !strings.Contains(s, "speed") {
		t.Errorf("the terminal does not answer as a shell's after quitting:\n%s", s)
	}
}

var tickRE = regexp.MustCompile(`tick (\d+)`)

func maxTick(screen string) int {
	n := 0
	for _, m := range tickRE.FindAllStringSubmatch(screen, -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	return n
}

// restarts counts the master's audit events of restarts of app.
func restarts(t *testing.T, c *cluster, app string) int {
	t.Helper()
	es, err := c.apiClient(adminEmail, adminPassword).Audit(context.Background(), 500)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	n := 0
	for _, e := range es {
		if e.Action == "app.restart" && e.Target == app {
			n++
		}
	}
	return n
}

// TestDashboardIdleCPU lists 200 apps in the dashboard and measures the CPU
// it uses while nobody touches it (it still refreshes every 2s).
func TestDashboardIdleCPU(t *testing.T) {
	c := newCluster(t)
	c.login()
	admin := c.apiClient(adminEmail, adminPassword)
	for i := range 200 {
		if _, err := admin.CreateApp(context.Background(), api.CreateAppRequest{Name: fmt.Sprintf("app-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	tm := newTmux(t, 160, 48, []string{"GASPER_CONFIG_DIR=" + c.cliConfig}, filepath.Join(bin, "gasper"), "dashboard")
	tm.waitScreen(30*time.Second, "Apps (200)", "app-000")
	pid, _ := strconv.Atoi(strings.TrimSpace(tm.run("display-message", "-p", "-t", "dash", "#{pane_pid}")))
	window := 30 * time.Second
	if s := os.Getenv("GASPER_IDLE_WINDOW"); s != "" {
		window, _ = time.ParseDuration(s)
	}
	cpu0, t0 := cpuTime(t, pid), time.Now()
	time.Sleep(window)
	cpu1, t1 := cpuTime(t, pid), time.Now()
	share := float64(cpu1-cpu0) / float64(t1.Sub(t0)) * 100
	t.Logf("dashboard (pid %d) idle with 200 apps, refreshing every 2s: %.2f%% of one core over %s (%s CPU)",
		pid, share, t1.Sub(t0).Round(time.Second), cpu1-cpu0)
	if share > 10 {
		t.Errorf("the idle dashboard uses %.1f%% of a core, want well under 10%%", share)
	}
	tm.keys("q")
}

// cpuTime is the user+system CPU time process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read the dashboard's CPU time: %v", err)
	}
	// Fields after the command name (which may hold spaces): utime is
	// the 14th field overall, stime the 15th, in clock ticks (100/s).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
