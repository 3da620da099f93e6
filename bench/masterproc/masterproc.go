// Package masterproc runs a real gasper-master binary for a benchmark, on
// free loopback ports with its own data directory, and reads its process's
// resident memory and CPU time.
package masterproc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gasper/api"
	"gasper/api/client"
)

// AdminPassword is the first admin's password in every benchmark master.
const AdminPassword = "bench-admin-password"

// Master is one gasper-master process.
type Master struct {
	Bin, Dir    string
	API, Tunnel string // host:port
	Interval    time.Duration
	Args        []string // more flags
	cmd         *exec.Cmd
}

// New returns a master that keeps its data and log under dir.
func New(bin, dir string, interval time.Duration) *Master {
	return &Master{Bin: bin, Dir: dir, API: FreeAddr(), Tunnel: FreeAddr(), Interval: interval}
}

// Start starts the master and waits until its API answers.
func (m *Master) Start() error {
	m.cmd = exec.Command(m.Bin, "--data-dir", filepath.Join(m.Dir, "master"), "--listen", m.API,
		"--tunnel-listen", m.Tunnel, "--tunnel-advertise", m.Tunnel, "--log-format", "json", "--log-level", "warn",
		"--heartbeat-interval", m.Interval.String(), "--heartbeat-grace", (5 * m.Interval).String())
	m.cmd.Args = append(m.cmd.Args, m.Args...)
	m.cmd.Env = append(os.Environ(), "GASPER_ADMIN_PASSWORD="+AdminPassword)
	logf, err := os.OpenFile(m.LogPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w (build it with `make build`)", m.Bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + m.API + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("master did not answer on %s within 30s (log: %s)", m.API, m.LogPath())
}

// LogPath is where the master's output goes.
func (m *Master) LogPath() string { return filepath.Join(m.Dir, "master.log") }

// Stop ends the master with SIGTERM, and SIGKILL after 10 s.
func (m *Master) Stop() {
	if m.cmd == nil || m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
}

// Pid is the master's process id.
func (m *Master) Pid() int { return m.cmd.Process.Pid }

// Admin logs in as the first admin and returns a client with its token.
func (m *Master) Admin(ctx context.Context) (*client.Client, error) {
	s, err := client.New("http://"+m.API).Login(ctx, "admin@gasper.local", AdminPassword)
	if err != nil {
		return nil, fmt.Errorf("log in: %w", err)
	}
	return client.New("http://"+m.API, client.WithToken(s.AccessToken)), nil
}

// WaitConnected waits until n nodes are connected and ready.
func WaitConnected(ctx context.Context, c *client.Client, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	got := 0
	for time.Now().Before(deadline) {
		nodes, err := c.Nodes(ctx)
		if err == nil {
			got = 0
			for _, nd := range nodes {
				if nd.Connected && nd.State == api.NodeReady {
					got++
				}
			}
			if got >= n {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("only %d of %d agents connected and ready after %s", got, n, within)
}

// FreeAddr returns a loopback host:port nothing listens on.
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// RSS returns a process's resident set size in bytes.
func RSS(pid int) uint64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// CPUTicks returns a process's user+system CPU time in clock ticks (USER_HZ, 100 on Linux).
func CPUTicks(pid int) uint64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseUint(fields[11], 10, 64)
	st, _ := strconv.ParseUint(fields[12], 10, 64)
	return ut + st
}

// MiB renders bytes as MiB.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
