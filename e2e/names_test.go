package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testBridge makes a bridge of the test's own with an address for the host
// and one for a node, and removes it at the end. Containers reach a node's
// DNS and proxy there, which they cannot on loopback.
func testBridge(t *testing.T) (nodeIP string) {
	t.Helper()
	n := os.Getpid()%200 + 20
	name := fmt.Sprintf("gtb%d", os.Getpid()%100000)
	for _, args := range [][]string{
		{"link", "add", name, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("10.250.%d.1/24", n), "dev", name},
		{"addr", "add", fmt.Sprintf("10.250.%d.2/24", n), "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	return fmt.Sprintf("10.250.%d.2", n)
}

// TestAppsReachEachOtherByName: an app's container resolves another app's
// name through the DNS role and calls it through the proxy.
func TestAppsReachEachOtherByName(t *testing.T) {
	needContainerd(t)
	ip := testBridge(t)
	c := newCluster(t)
	c.login()
	// Containers need the DNS role on port 53 and the proxy on 80.
	c.nets["node1"] = nodeNet{ns: fmt.Sprintf("gasper-e2e-names-%d", os.Getpid()), bridge: fmt.Sprintf("gn%d", os.Getpid()%100000),
		subnet: fmt.Sprintf("10.214.%d.0/24", nextSubnet()), http: net.JoinHostPort(ip, "80"), https: net.JoinHostPort(ip, "443"), dns: net.JoinHostPort(ip, "53")}
	nn, stateDir := c.nets["node1"], c.dir+"/node1"
	t.Cleanup(func() { cleanupNode(t, nn, stateDir) })
	c.agentRoles("node1", ip, c.joinToken(), "app,proxy,dns")
	c.waitNode("node1", "ready", 60*time.Second)

	src := copyExample(t, "static")
	c.ok("", "app", "create", "web", "--from", src, "--env", "GREETING=found-by-name", "--wait-timeout", "3m")
	// The caller fetches http://web/ at start: a short name, completed by the
	// cloud domain as search domain, resolved by the DNS role, served by the
	// proxy.
	out, errOut, code := c.gasper("", "app", "create", "caller", "--from", src, "--wait-timeout", "3m",
		"--start-cmd", "busybox wget -q -O /app/index.html http://web/ || echo 'lookup failed' > /app/index.html; cat /etc/resolv.conf; exec busybox httpd -f -p 0.0.0.0:$PORT -h /app")
	if code != 0 {
		t.Fatalf("create caller: %d\n%s", code, errOut)
	}
	addr := strings.TrimPrefix(strings.TrimSpace(out), "http://")
	if st, body := get(t, addr); st != 200 || !strings.Contains(body, "hello=found-by-name") {
		logs := c.ok("", "app", "logs", "caller")
		t.Fatalf("caller's page: %d %q; its log:\n%s", st, body, logs)
	}
	if logs := c.ok("", "app", "logs", "caller"); !strings.Contains(logs, "nameserver "+ip) || !strings.Contains(logs, "search gasper.internal") {
		t.Errorf("the container's resolv.conf does not point at the DNS role:\n%s", logs)
	}
}
