package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gasper/internal/container"
)

// bin is the directory holding the freshly built binaries.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gasper-e2e-bin-")
	if err != nil {
		panic(err)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/gasper", "./cmd/gasper-master", "./cmd/gasper-agent")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the binaries failed:", err)
		os.Exit(1)
	}
	bin = dir
	releaseStalePorts()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const containerdSocket = "/run/containerd/containerd.sock"

// releaseStalePorts frees the published-port rules that earlier, crashed runs left for their
// nodes: without a socket behind them, the kernel could give their ports to this run's servers.
func releaseStalePorts() {
	if _, err := os.Stat(containerdSocket); err != nil {
		return
	}
	c, err := container.Connect(context.Background(), containerdSocket, "default")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: releasing stale port rules:", err)
		return
	}
	defer c.Close()
	if _, err := container.ReleaseStalePorts(context.Background(), c, func(n string) bool { return strings.HasPrefix(n, "gasper-e2e-") }); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: releasing stale port rules:", err)
	}
}

// needContainerd skips a test that starts agents when containerd is not
// running: agents refuse to start without it.
func needContainerd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(containerdSocket); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("containerd is not running at %s, and CI must run every test", containerdSocket)
		}
		t.Skipf("containerd is not running at %s: `make test` starts it (as root)", containerdSocket)
	}
}

const adminEmail, adminPassword = "admin@gasper.local", "e2e-admin-password"

// cluster is one master with its agents and a CLI configuration.
type cluster struct {
	t         *testing.T
	dir       string
	api       string // host:port of the REST API
	tunnel    string // host:port of the tunnel
	interval  time.Duration
	grace     time.Duration
	master    *proc
	cliConfig string
	nets      map[string]nodeNet
	nodeProc  map[string]*proc
	// masterArgs and agentArgs are extra flags of gasper-master and gasper-agent join.
	masterArgs, agentArgs []string
}

// nodeNet is what a node of a test owns on the machine, and where its
// proxy, DNS and SSH roles listen.
type nodeNet struct{ ns, bridge, subnet, http, https, dns, ssh string }

// freePortOn returns host:port with a port free on host, TCP and UDP.
func freePortOn(t *testing.T, host string) string {
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatalf("no port free for both TCP and UDP on %s", host)
	return ""
}

// subnetSeq starts at a random third octet so test runs side by side (other worktrees) rarely
// meet; nextSubnet also skips subnets some bridge on the host already routes.
var subnetSeq = func() *atomic.Int32 { var n atomic.Int32; n.Store(rand.Int32N(250)); return &n }()

func nextSubnet() int32 {
	for {
		n := subnetSeq.Add(1)%250 + 1
		if !addressInUse(fmt.Sprintf("10.214.%d.1", n)) {
			return n
		}
	}
}

// addressInUse tells whether ip is assigned to one of the host's interfaces.
func addressInUse(ip string) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
			return true
		}
	}
	return false
}

// suffix keeps bridge names within 15 characters.
func suffix(name string) string {
	if len(name) > 6 {
		return name[len(name)-6:]
	}
	return name
}

// cleanupNode removes what a test node left in containerd and the kernel,
// once its agent has stopped: the driver's Remove undoes each container's
// network (netns, CNI allocation, port rules) too.
func cleanupNode(t *testing.T, n nodeNet, stateDir string) {
	ctx := context.Background()
	d, err := container.New(ctx, container.Config{Socket: containerdSocket, Namespace: n.ns,
		StateDir: filepath.Join(stateDir, "containers"), Bridge: n.bridge, Subnet: n.subnet, HostIP: "127.0.0.1",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Logf("cleanup of node namespace %s: %v", n.ns, err)
		return
	}
	defer d.Close()
	// A container the agent was still creating or removing can outlive one
	// listing: go on until none is left.
	for try := 0; try < 20; try++ {
		cs, _ := d.List(ctx, nil)
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if err := d.Remove(ctx, c.ID); err != nil {
				t.Logf("cleanup: remove container %s: %v", c.ID, err)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := d.Purge(ctx); err != nil {
		t.Errorf("cleanup of node namespace %s: %v", n.ns, err)
	}
}

func newCluster(t *testing.T, masterArgs ...string) *cluster {
	t.Helper()
	return newClusterBeating(t, 500*time.Millisecond, 2*time.Second, masterArgs...)
}

// newClusterBeating is newCluster with the given heartbeat interval and
// grace; failure times are measured with the master's defaults, 1s and 5s.
func newClusterBeating(t *testing.T, interval, grace time.Duration, masterArgs ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), api: freeAddr(t), tunnel: freeAddr(t), masterArgs: masterArgs,
		interval: interval, grace: grace, nets: map[string]nodeNet{}, nodeProc: map[string]*proc{}}
	c.cliConfig = filepath.Join(c.dir, "cli")
	c.startMaster()
	t.Cleanup(func() { c.master.stop() })
	return c
}

func (c *cluster) startMaster() {
	c.t.Helper()
	args := append([]string{"--data-dir", filepath.Join(c.dir, "master"), "--listen", c.api,
		"--tunnel-listen", c.tunnel, "--tunnel-advertise", c.tunnel, "--log-format", "text",
		"--heartbeat-interval", c.interval.String(), "--heartbeat-grace", c.grace.String()}, c.masterArgs...)
	c.master = start(c.t, filepath.Join(c.dir, "master.log"), []string{"GASPER_ADMIN_PASSWORD=" + adminPassword},
		"gasper-master", args...)
	waitFor(c.t, 20*time.Second, "the master's health endpoint", func() bool {
		resp, err := http.Get("http://" + c.api + "/api/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// agent starts a gasper-agent as node name with the given advertise address.
// token may be empty for a node that already joined. Each node gets its own
// containerd namespace, bridge and subnet, removed when the test ends.
func (c *cluster) agent(name, advertise, token string) *proc {
	return c.agentRoles(name, advertise, token, "app,db,proxy,dns,ssh")
}

// agentRoles starts a node with the given roles. Its proxy and DNS listen
// on free ports of its advertise address, the same across restarts.
func (c *cluster) agentRoles(name, advertise, token, roles string) *proc {
	c.t.Helper()
	nn, ok := c.nets[name]
	if !ok {
		nn = nodeNet{ns: fmt.Sprintf("gasper-e2e-%s-%d", name, os.Getpid()), bridge: fmt.Sprintf("ge%d%s", os.Getpid()%10000, suffix(name)),
			subnet: fmt.Sprintf("10.214.%d.0/24", nextSubnet()),
			http:   freePortOn(c.t, advertise), https: freePortOn(c.t, advertise), dns: freePortOn(c.t, advertise),
			ssh: freePortOn(c.t, advertise)}
		c.nets[name] = nn
		stateDir := filepath.Join(c.dir, name)
		c.t.Cleanup(func() { cleanupNode(c.t, nn, stateDir) })
	}
	args := []string{"join", c.tunnel, "--roles", roles, "--advertise", advertise,
		"--name", name, "--state-dir", filepath.Join(c.dir, name),
		"--containerd-namespace", nn.ns, "--bridge", nn.bridge, "--subnet", nn.subnet, "--log-format", "text",
		"--proxy-http-addr", nn.http, "--proxy-https-addr", nn.https, "--dns-addr", nn.dns, "--ssh-addr", nn.ssh}
	if token != "" {
		args = append(args, "--token", token)
	}
	args = append(args, c.agentArgs...)
	p := start(c.t, filepath.Join(c.dir, name+".log"), nil, "gasper-agent", args...)
	c.t.Cleanup(p.stop)
	c.nodeProc[name] = p
	return p
}

// gasper runs the CLI as the cluster's user and returns stdout, stderr and
// the exit code.
func (c *cluster) gasper(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	return c.gasperAs(c.cliConfig, stdin, args...)
}

func (c *cluster) gasperAs(configDir, stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(bin, "gasper"), args...)
	cmd.Env = append(cleanEnv(), "GASPER_CONFIG_DIR="+configDir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run gasper %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs the CLI and fails the test unless it exits 0.
func (c *cluster) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.gasper(stdin, args...)
	if code != 0 {
		c.t.Fatalf("gasper %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (c *cluster) login() {
	c.t.Helper()
	c.ok(adminPassword, "login", "--master", "http://"+c.api, "--email", adminEmail, "--password-stdin")
}

func (c *cluster) joinToken(args ...string) string {
	c.t.Helper()
	return strings.TrimSpace(c.ok("", append([]string{"node", "token"}, args...)...))
}

// nodeView is what the tests read of `gasper node list --json`.
type nodeView struct {
	ID        string   `json:"id"`
	Hostname  string   `json:"hostname"`
	Advertise string   `json:"advertise"`
	Roles     []string `json:"roles"`
	State     string   `json:"state"`
	Connected bool     `json:"connected"`
	Facts     struct {
		CPUs              int    `json:"cpus"`
		MemoryBytes       uint64 `json:"memory_bytes"`
		DiskBytes         uint64 `json:"disk_bytes"`
		ContainerdVersion string `json:"containerd_version"`
		KernelVersion     string `json:"kernel_version"`
	} `json:"facts"`
	Usage struct {
		MemoryUsedBytes uint64 `json:"memory_used_bytes"`
	} `json:"usage"`
}

func (c *cluster) nodes() map[string]nodeView {
	c.t.Helper()
	var ns []nodeView
	if err := json.Unmarshal([]byte(c.ok("", "node", "list", "--json")), &ns); err != nil {
		c.t.Fatalf("node list --json: %v", err)
	}
	out := map[string]nodeView{}
	for _, n := range ns {
		out[n.Hostname] = n
	}
	return out
}

// waitNode waits until node name is in state and returns it.
func (c *cluster) waitNode(name, state string, within time.Duration) nodeView {
	c.t.Helper()
	if p := c.nodeProc[name]; p != nil {
		// If the wait fails, the node's own log says why.
		defer func() {
			if c.t.Failed() {
				c.t.Logf("log of node %s:\n%s", name, p.logText())
			}
		}()
	}
	var n nodeView
	waitFor(c.t, within, fmt.Sprintf("node %s to be %s", name, state), func() bool {
		n = c.nodes()[name]
		return n.State == state && (state != "ready" || n.Connected)
	})
	return n
}

// proc is a started binary.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func start(t *testing.T, logPath string, env []string, name string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p
}

// stop ends the process with SIGTERM, then SIGKILL after 10s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// exited waits for the process to exit by itself and returns its exit code
// and log.
func (p *proc) exited(within time.Duration) (int, string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		p.t.Fatalf("%s still running after %s; log:\n%s", p.cmd.Path, within, p.logText())
	}
	return p.cmd.ProcessState.ExitCode(), p.logText()
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// waitFor polls cond until it holds or the deadline passes, naming what it
// waited for.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", within, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return time.Since(start)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cleanEnv is the environment without GASPER_* settings of the developer's
// own, so the tests see only what they set.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GASPER_") {
			out = append(out, kv)
		}
	}
	return out
}
