package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCluster is the cluster core's acceptance: a master and two agents on
// loopback, a node killed and back with the same identity, and a master
// restart that everyone survives.
func TestCluster(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	if out := c.ok("", "whoami"); !strings.Contains(out, adminEmail) {
		t.Fatalf("whoami: %q", out)
	}
	token := c.joinToken()
	a1 := c.agent("node1", "127.0.0.2", token)
	c.agent("node2", "127.0.0.3", token)
	n1 := c.waitNode("node1", "ready", 30*time.Second)
	n2 := c.waitNode("node2", "ready", 30*time.Second)
	for _, n := range []nodeView{n1, n2} {
		if n.Facts.CPUs < 1 || n.Facts.MemoryBytes == 0 || n.Facts.DiskBytes == 0 ||
			n.Facts.ContainerdVersion == "" || n.Facts.KernelVersion == "" || len(n.Roles) != 5 {
			t.Errorf("node %s lacks facts: %+v", n.Hostname, n)
		}
	}
	if n1.Advertise != "127.0.0.2" || n2.Advertise != "127.0.0.3" {
		t.Errorf("advertise addresses: %s, %s", n1.Advertise, n2.Advertise)
	}
	// Usage comes with heartbeats.
	waitFor(t, 10*time.Second, "node1 to report memory use", func() bool { return c.nodes()["node1"].Usage.MemoryUsedBytes > 0 })

	// State that must survive a master restart.
	c.ok("bob-password-1", "user", "create", "bob@example.com", "--password-stdin")
	var created struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "token", "create", "ci", "--json")), &created); err != nil || created.Token == "" {
		t.Fatalf("token create --json: %v", err)
	}

	// A machine dies: SIGKILL. The node is down within interval + grace.
	a1.kill()
	killed := time.Now()
	c.waitNode("node1", "down", c.interval+c.grace+3*time.Second)
	t.Logf("node1 down %s after SIGKILL (interval %s + grace %s)", time.Since(killed).Round(time.Millisecond), c.interval, c.grace)
	if c.nodes()["node2"].State != "ready" {
		t.Fatal("node2 went down with node1")
	}

	// It comes back with the same identity, without a token.
	c.agent("node1", "127.0.0.2", "")
	if back := c.waitNode("node1", "ready", 20*time.Second); back.ID != n1.ID {
		t.Fatalf("node1 came back as %s, want its old id %s", back.ID, n1.ID)
	}
	if len(c.nodes()) != 2 {
		t.Fatalf("nodes after rejoin: %v", c.nodes())
	}

	// Restart the master: agents reconnect by themselves, state is kept.
	c.master.stop()
	restarted := time.Now()
	c.startMaster()
	for _, name := range []string{"node1", "node2"} {
		c.waitNode(name, "ready", 15*time.Second)
	}
	t.Logf("both agents reconnected %s after the master restarted", time.Since(restarted).Round(time.Millisecond))
	ns := c.nodes()
	if ns["node1"].ID != n1.ID || ns["node2"].ID != n2.ID {
		t.Fatalf("node ids changed across the master restart: %+v", ns)
	}
	if out := c.ok("", "user", "list"); !strings.Contains(out, "bob@example.com") {
		t.Fatalf("user list after restart: %s", out)
	}
	if out, _, code := c.gasperAs(t.TempDir(), "", "whoami", "--master", "http://"+c.api, "--token", created.Token); code != 0 || !strings.Contains(out, adminEmail) {
		t.Fatalf("API token after restart: exit %d %s", code, out)
	}
	// The login session survived too (same signing key).
	c.ok("", "whoami")
}

// TestJoinRefusals: each way a join can be wrong makes the agent exit with a
// message that says which.
func TestJoinRefusals(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	good := c.joinToken()
	expired := c.joinToken("--ttl", "1s")

	other := newCluster(t) // another master, another CA
	other.login()
	foreign := other.joinToken()

	// Same CA, unknown token id and secret: keep the CA hash, change the rest.
	parts := strings.Split(good, "_")
	forged := strings.Join(append(parts[:len(parts)-2], "0badc0de", strings.Repeat("0", len(parts[len(parts)-1]))), "_")
	time.Sleep(1100 * time.Millisecond)

	for _, tt := range []struct {
		name, token, want string
	}{
		{"malformed", "not-a-token", "token"},
		{"unknown", forged, "rejected the join token"},
		{"expired", expired, "expired"},
		{"another CA", foreign, "CA fingerprint mismatch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			p := c.agent("bad-"+strings.ReplaceAll(tt.name, " ", "-"), "127.0.0.4", tt.token)
			code, log := p.exited(20 * time.Second)
			if code == 0 || !strings.Contains(log, tt.want) {
				t.Fatalf("agent exit %d, log should mention %q:\n%s", code, tt.want, log)
			}
		})
	}
	c.t = t
	if n := len(c.nodes()); n != 0 {
		t.Fatalf("refused agents became %d nodes", n)
	}

	// A removed node is told so, and exits.
	p := c.agent("gone", "127.0.0.5", good)
	c.waitNode("gone", "ready", 20*time.Second)
	c.ok("", "node", "remove", "gone", "--yes")
	code, log := p.exited(20 * time.Second)
	if code == 0 || !strings.Contains(log, "removed from the cluster") {
		t.Fatalf("removed agent: exit %d, log:\n%s", code, log)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "gone", "identity.json")); err != nil {
		t.Fatalf("identity file: %v", err)
	}
}

// TestPermissions: a non-admin cannot create users or join tokens, and the
// CLI says so with its documented exit code.
func TestPermissions(t *testing.T) {
	c := newCluster(t)
	c.login()
	c.ok("bob-password-1", "user", "create", "bob@example.com", "--password-stdin")
	bob := t.TempDir()
	if _, errOut, code := c.gasperAs(bob, "bob-password-1", "login", "--master", "http://"+c.api, "--email", "bob@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("bob login: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"node", "token"},
		{"user", "create", "eve@example.com", "--password-stdin"},
		{"node", "list"},
	} {
		_, errOut, code := c.gasperAs(bob, "eve-password-1", args...)
		if code != 4 || !strings.Contains(errOut, "admin") {
			t.Errorf("bob: gasper %s: exit %d, want 4 with a hint about admin rights: %s", strings.Join(args, " "), code, errOut)
		}
	}
	if _, errOut, code := c.gasperAs(t.TempDir(), "wrong-password", "login", "--master", "http://"+c.api, "--email", "bob@example.com", "--password-stdin"); code != 3 {
		t.Errorf("wrong password: exit %d, want 3: %s", code, errOut)
	}
	// Deleting bob ends his session at once.
	c.ok("", "user", "delete", "bob@example.com", "--yes")
	if _, errOut, code := c.gasperAs(bob, "", "whoami"); code != 3 {
		t.Errorf("deleted user: exit %d, want 3: %s", code, errOut)
	}
}
