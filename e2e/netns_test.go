package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"gasper/internal/container"
)

// Nodes in network namespaces. The test makes one bridge on the host (the
// "wire", with its own /24 in 10.215.0.0/16) and joins each netns node to it
// by a veth pair: the node's agent runs inside the netns, dials the master on
// the bridge's address and advertises its own veth address, so the proxy on
// the host reaches its published app ports over the wire. Taking the host end
// of a node's veth down cuts that node off; setting it up heals it.
// containerd stays on the host (its socket is a file); the CNI bridge,
// portmap rules and the containers' own namespaces live inside the node's netns.
// The agent enters only the network namespace (nsenter --net), not a mount
// namespace of its own as `ip netns exec` would make: the containers' network
// namespaces it bind-mounts must be seen by runc, which runs on the host.

// wire is the host side of the test's netns nodes.
type wire struct {
	bridge string // host bridge the nodes' veths are joined to
	net    int32  // third octet of 10.215.N.0/24
	nodes  atomic.Int32
}

// netnsNode is what a netns node owns on the machine.
type netnsNode struct {
	netns   string // ip netns name
	hostEnd string // host end of its veth pair
	addr    string // its address on the wire (advertise)
}

var wireSeq = func() *atomic.Int32 { var n atomic.Int32; n.Store(int32(os.Getpid() % 250)); return &n }()

// needNetns fails (CI) or skips a test that needs root and iproute2.
func needNetns(t *testing.T) {
	t.Helper()
	needContainerd(t)
	_, err := exec.LookPath("ip")
	if err == nil {
		_, err = exec.LookPath("nsenter")
	}
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("netns tests need root, iproute2 (ip) and nsenter: euid %d, %v", os.Geteuid(), err)
		}
		t.Skip("netns tests need root, iproute2 (ip) and nsenter")
	}
}

// ipCmd runs ip with args and fails the test if it fails.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// subnetUsed tells whether any address of the host, or any route, is in 10.215.n.0/24.
func subnetUsed(n int32) bool {
	_, cidr, _ := net.ParseCIDR(fmt.Sprintf("10.215.%d.0/24", n))
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && cidr.Contains(ipn.IP) {
			return true
		}
	}
	out, _ := exec.Command("ip", "-4", "route", "show", "match", cidr.IP.String()).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] != "default" {
			return true
		}
	}
	return false
}

// newWire makes the host bridge, removed when the test ends.
func newWire(t *testing.T) *wire {
	t.Helper()
	w := &wire{}
	for try := 0; ; try++ {
		w.net = wireSeq.Add(1)%250 + 1
		if !subnetUsed(w.net) {
			break
		}
		if try > 250 {
			t.Fatal("no free /24 in 10.215.0.0/16 for the test's wire")
		}
	}
	w.bridge = fmt.Sprintf("gw%d-%d", os.Getpid()%100000, w.net)
	ipCmd(t, "link", "add", w.bridge, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", w.bridge).Run() })
	ipCmd(t, "addr", "add", w.host()+"/24", "dev", w.bridge)
	ipCmd(t, "link", "set", w.bridge, "up")
	return w
}

// host is the host's address on the wire: the master listens there.
func (w *wire) host() string { return fmt.Sprintf("10.215.%d.1", w.net) }

// newNetnsCluster starts a master whose tunnel listens on a new wire, with
// the master's default heartbeats (interval 1s, grace 5s), which the failure
// times are measured with.
func newNetnsCluster(t *testing.T) (*cluster, *wire) {
	t.Helper()
	w := newWire(t)
	c := &cluster{t: t, dir: t.TempDir(), api: freeAddr(t), tunnel: freePortOn(t, w.host()),
		interval: time.Second, grace: 5 * time.Second, nets: map[string]nodeNet{}, nodeProc: map[string]*proc{}}
	c.cliConfig = filepath.Join(c.dir, "cli")
	c.startMaster()
	t.Cleanup(func() { c.master.stop() })
	return c, w
}

// netnsNodes records the netns nodes of each cluster.
var netnsNodes = map[*cluster]map[string]netnsNode{}

// netnsAgent starts node name's agent inside its network namespace, making
// the namespace and its veth on first use. token may be empty for a node
// that already joined.
func (c *cluster) netnsAgent(w *wire, name, roles, token string) *proc {
	t := c.t
	t.Helper()
	if netnsNodes[c] == nil {
		netnsNodes[c] = map[string]netnsNode{}
		t.Cleanup(func() { delete(netnsNodes, c) })
	}
	nn, ok := netnsNodes[c][name]
	if !ok {
		k := w.nodes.Add(1)
		pid := os.Getpid() % 10000
		nn = netnsNode{netns: fmt.Sprintf("gasper-e2e-%s-%d", name, os.Getpid()),
			hostEnd: fmt.Sprintf("gv%d-%d-%d", pid, w.net, k), addr: fmt.Sprintf("10.215.%d.%d", w.net, 10+k)}
		peer := fmt.Sprintf("gp%d-%d-%d", pid, w.net, k)
		ipCmd(t, "netns", "add", nn.netns)
		netnsNodes[c][name] = nn
		n := nodeNet{ns: fmt.Sprintf("gasper-e2e-%s-%d", name, os.Getpid()), bridge: fmt.Sprintf("ge%d%s", os.Getpid()%10000, suffix(name)),
			subnet: fmt.Sprintf("10.214.%d.0/24", nextSubnet())}
		c.nets[name] = n
		stateDir := filepath.Join(c.dir, name)
		t.Cleanup(func() {
			// Inside the netns, where the node's CNI state and rules are.
			// containerd removes snapshots in its next garbage collection: on a
			// busy machine, the namespace may need a few tries to be empty.
			var out string
			var err error
			for try := 0; try < 4; try++ {
				if out, err = c.netnsDown(name, true); err == nil {
					break
				}
				time.Sleep(2 * time.Second)
			}
			if err != nil {
				t.Logf("cleanup of netns node %s: %v\n%s", name, err, out)
				cleanupNode(t, n, stateDir) // at least the containers and the namespace
			}
			exec.Command("ip", "netns", "del", nn.netns).Run()
			exec.Command("ip", "link", "del", nn.hostEnd).Run()
		})
		ipCmd(t, "link", "add", nn.hostEnd, "type", "veth", "peer", "name", peer)
		ipCmd(t, "link", "set", peer, "netns", nn.netns)
		ipCmd(t, "link", "set", nn.hostEnd, "master", w.bridge)
		ipCmd(t, "link", "set", nn.hostEnd, "up")
		ipCmd(t, "-n", nn.netns, "link", "set", "lo", "up")
		ipCmd(t, "-n", nn.netns, "link", "set", peer, "name", "eth0")
		ipCmd(t, "-n", nn.netns, "addr", "add", nn.addr+"/24", "dev", "eth0")
		ipCmd(t, "-n", nn.netns, "link", "set", "eth0", "up")
	}
	n := c.nets[name]
	args := []string{"--net=/run/netns/" + nn.netns, filepath.Join(bin, "gasper-agent"),
		"join", c.tunnel, "--roles", roles, "--advertise", nn.addr,
		"--name", name, "--state-dir", filepath.Join(c.dir, name),
		"--containerd-namespace", n.ns, "--bridge", n.bridge, "--subnet", n.subnet, "--log-format", "text"}
	if token != "" {
		args = append(args, "--token", token)
	}
	args = append(args, c.agentArgs...)
	p := startCmd(t, filepath.Join(c.dir, name+".log"), "nsenter", args...)
	t.Cleanup(p.stop)
	c.nodeProc[name] = p
	return p
}

// netnsDown runs `gasper-agent down` in node name's netns: its containers
// stop and go, as when its machine dies; with purge, its images, containerd
// namespace and bridge too.
func (c *cluster) netnsDown(name string, purge bool) (string, error) {
	nn, n := netnsNodes[c][name], c.nets[name]
	args := []string{"--net=/run/netns/" + nn.netns, filepath.Join(bin, "gasper-agent"), "down",
		"--state-dir", filepath.Join(c.dir, name), "--containerd-namespace", n.ns, "--bridge", n.bridge, "--subnet", n.subnet}
	if purge {
		args = append(args, "--purge")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	return string(out), err
}

// cut takes node name's link down (up false) or brings it back.
func (c *cluster) link(name string, up bool) {
	c.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	ipCmd(c.t, "link", "set", netnsNodes[c][name].hostEnd, state)
}

// startCmd starts a program that is not one of the built binaries (like
// nsenter, which execs the agent in place: the pid is the agent's).
func startCmd(t *testing.T, logPath, prog string, args ...string) *proc {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prog, err)
	}
	p := &proc{t: t, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p
}

// runningApps counts, per app, the containers whose task runs in node
// name's containerd namespace (build containers aside).
func runningApps(t *testing.T, c *cluster, name string) map[string]int {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), c.nets[name].ns)
	client, err := container.Connect(ctx, containerdSocket, c.nets[name].ns)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cs, err := client.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers of %s: %v", name, err)
	}
	out := map[string]int{}
	for _, ct := range cs {
		labels, err := ct.Labels(ctx)
		if err != nil || labels["gasper.app"] == "" || labels["gasper.build"] != "" {
			continue
		}
		task, err := ct.Task(ctx, nil)
		if err != nil {
			continue
		}
		if st, err := task.Status(ctx); err == nil && st.Status == containerd.Running {
			out[labels["gasper.app"]]++
		}
	}
	return out
}
