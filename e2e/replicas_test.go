package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// instanceRE finds the instance that answered in the replica app's page.
var instanceRE = regexp.MustCompile(`instance=(\S+)`)

// answering asks the proxy n times and returns the instances that answered.
func answering(t *testing.T, proxy, url string, n int) map[string]bool {
	seen := map[string]bool{}
	for range n {
		out, err := curl(t, proxy, url)
		if m := instanceRE.FindStringSubmatch(out); err == nil && m != nil {
			seen[m[1]] = true
		}
	}
	return seen
}

// instanceIDs lists the ids of an app's instances in a state, and their nodes.
func (a schedApp) healthy() (ids, nodes []string) {
	for _, in := range a.Instances {
		if in.State == "healthy" {
			ids = append(ids, in.ID)
			nodes = append(nodes, in.NodeName)
		}
	}
	sort.Strings(ids)
	sort.Strings(nodes)
	return ids, nodes
}

// TestReplicas: an app scales to replicas on different nodes, all serving
// through the proxy, up and down under load with no failed request; 0
// stops it; an app asking for more CPUs than any node has waits with the
// reason; a node that dies takes one replica with it, the other serves on
// and a replacement starts elsewhere.
func TestReplicas(t *testing.T) {
	needContainerd(t)
	c := newClusterBeating(t, time.Second, 5*time.Second) // the master's defaults
	c.login()
	tok := c.joinToken()
	c.agentRoles("edge", "127.0.0.2", tok, "proxy,dns")
	nodes := []string{"node1", "node2", "node3"}
	for i, n := range nodes {
		c.agentRoles(n, fmt.Sprintf("127.0.0.%d", 3+i), tok, "app")
	}
	for _, n := range append([]string{"edge"}, nodes...) {
		c.waitNode(n, "ready", 30*time.Second)
	}
	proxy := c.nets["edge"].http
	url := "http://echo." + domain + "/"
	src := copyExample(t, "static")
	start := `echo "instance=$GASPER_INSTANCE" > /app/index.html && exec busybox httpd -f -p "0.0.0.0:$PORT" -h /app`
	c.ok("", "app", "create", "echo", "--from", src, "--start-cmd", start, "--wait-timeout", "3m")
	waitFor(t, 20*time.Second, "the proxy to route echo", func() bool { return len(answering(t, proxy, url, 1)) == 1 })

	// Two replicas: on two nodes, and the proxy answers from both.
	c.ok("", "app", "scale", "echo", "2", "--wait-timeout", "5m")
	a := c.schedApp("echo")
	ids, on := a.healthy()
	if len(ids) != 2 || on[0] == on[1] || a.Replicas != 2 || a.Running != 2 {
		t.Fatalf("echo at 2 replicas: %+v; want 2 healthy instances on 2 nodes", a)
	}
	waitFor(t, 20*time.Second, "the proxy to answer from both replicas", func() bool {
		seen := answering(t, proxy, url, 10)
		return len(seen) == 2 && seen[ids[0]] && seen[ids[1]]
	})
	// APP.N (ssh web.2@..., exec --instance 2) is the Nth instance as app
	// info lists them, whichever node it is on.
	for n, in := range a.Instances {
		out := c.ok("", "app", "exec", "echo", "--instance", fmt.Sprint(n+1), "--", "sh", "-c", "echo $GASPER_INSTANCE")
		if strings.TrimSpace(out) != in.ID {
			t.Errorf("exec --instance %d ran in %q, want %s (on %s)", n+1, strings.TrimSpace(out), in.ID, in.NodeName)
		}
	}

	// 2 -> 3 -> 1 under a steady request loop: no request fails.
	l := startLoop(t, proxy, url, "instance=", 2)
	began := time.Now()
	c.ok("", "app", "scale", "echo", "3", "--wait-timeout", "5m")
	scaleUp := time.Since(began)
	a = c.schedApp("echo")
	ids, on = a.healthy()
	if len(ids) != 3 || len(slices.Compact(on)) != 3 {
		t.Fatalf("echo at 3 replicas: %+v; want 3 healthy instances on 3 nodes", a)
	}
	t.Logf("scale 2 -> 3: all 3 healthy after %s (the third node built the image first)", scaleUp.Round(100*time.Millisecond))
	waitFor(t, 20*time.Second, "the proxy to answer from all 3 replicas", func() bool { return len(answering(t, proxy, url, 15)) == 3 })
	// An env change and a restart roll every replica.
	c.ok("", "app", "env", "set", "echo", "ROLLED=1")
	waitFor(t, 3*time.Minute, "every replica to run release 2", func() bool {
		a := c.schedApp("echo")
		for _, in := range a.Instances {
			if in.Release != 2 || in.State != "healthy" {
				return false
			}
		}
		return a.Status == "running" && len(a.Instances) == 3
	})
	c.ok("", "app", "restart", "echo", "--wait", "--wait-timeout", "3m")
	a = c.schedApp("echo")
	ids, on = a.healthy()
	if len(ids) != 3 || len(slices.Compact(on)) != 3 || a.Release != 2 {
		t.Fatalf("echo after env set and restart: %+v; want 3 healthy instances of release 2 on 3 nodes", a)
	}
	for _, in := range a.Instances {
		if in.Release != 2 {
			t.Fatalf("instance %s runs release %d after the env change, want 2", in.ID, in.Release)
		}
	}
	c.ok("", "app", "scale", "echo", "1", "--wait-timeout", "2m")
	if a = c.schedApp("echo"); len(a.Instances) != 1 || a.Status != "running" {
		t.Fatalf("echo at 1 replica: %+v", a)
	}
	began = time.Now()
	c.ok("", "app", "scale", "echo", "3", "--wait-timeout", "5m")
	t.Logf("scale 1 -> 3: all 3 healthy after %s (the 2 nodes that had let the image go built it again, in parallel)", time.Since(began).Round(100*time.Millisecond))
	c.ok("", "app", "scale", "echo", "1", "--wait-timeout", "2m")
	time.Sleep(2 * time.Second) // requests after the scaling count too
	ok, failed := l.end()
	t.Logf("scaling 2 -> 3, env change, restart, 3 -> 1 -> 3 -> 1 under load: %d ok, %d failed", ok, failed)
	if failed > 0 || ok < 20 {
		t.Fatalf("scaling under load: %d ok, %d failed (first: %v)", ok, failed, l.first.Load())
	}

	// 0: nothing runs, the proxy says so.
	c.ok("", "app", "scale", "echo", "0")
	waitFor(t, 30*time.Second, "echo to stop and the proxy to answer 503", func() bool {
		out, _ := curl(t, proxy, url)
		a := c.schedApp("echo")
		return strings.Contains(out, "\n503 ") && a.Status == "stopped" && len(a.Instances) == 0
	})
	if out := c.ok("", "app", "list"); !regexp.MustCompile(`echo\s+stopped\s+2\s+\S+\s+0/0`).MatchString(out) {
		t.Errorf("app list does not show echo stopped at 0/0 replicas:\n%s", out)
	}

	// More CPUs than any node has: pending, and the reason says CPUs.
	_, errOut, code := c.gasper("", "app", "create", "greedy", "--from", src, "--cpu", "64", "--wait-timeout", "1m")
	if code == 0 || !strings.Contains(errOut, "needs 64 CPUs; the most cores any app node has is") {
		t.Fatalf("greedy create: exit %d, want pending for CPUs:\n%s", code, errOut)
	}
	if g := c.schedApp("greedy"); g.Status != "pending" || !strings.Contains(g.StatusReason, "CPUs") {
		t.Fatalf("greedy: %+v; want pending with a reason naming CPUs", g)
	}

	// A node with one of two replicas dies (agent killed, containers gone):
	// the other replica serves throughout, and a new one starts elsewhere.
	c.ok("", "app", "scale", "echo", "2", "--wait-timeout", "5m")
	a = c.schedApp("echo")
	_, on = a.healthy()
	victim, survivor := on[0], on[1]
	waitFor(t, 20*time.Second, "the proxy to answer from both replicas", func() bool { return len(answering(t, proxy, url, 10)) == 2 })
	l = startLoop(t, proxy, url, "instance=", 2)
	c.nodeProc[victim].kill()
	killed := time.Now()
	cleanupNode(t, c.nets[victim], filepath.Join(c.dir, victim))
	waitFor(t, 5*time.Minute, "a replacement replica to run off "+victim, func() bool {
		a := c.schedApp("echo")
		_, on := a.healthy()
		return len(on) == 2 && !slices.Contains(on, victim) && slices.Contains(on, survivor) && on[0] != on[1]
	})
	replaced := time.Since(killed)
	time.Sleep(2 * time.Second)
	ok, failed = l.end()
	a = c.schedApp("echo")
	_, on = a.healthy()
	t.Logf("%s died: 2 replicas healthy again on %v after %s; requests meanwhile: %d ok, %d failed", victim, on, replaced.Round(100*time.Millisecond), ok, failed)
	if failed > 0 || ok < 20 {
		t.Fatalf("failover with a replica: %d ok, %d failed (first: %v)", ok, failed, l.first.Load())
	}
	if !strings.Contains(a.Placement, "reschedule from "+victim) {
		t.Errorf("placement does not show the reschedule: %q", a.Placement)
	}

	// Drain one of the two nodes left, under load: its replica moves to the
	// other (the only place left, so two share it) with no failed request.
	from, to := on[0], on[1]
	l = startLoop(t, proxy, url, "instance=", 2)
	c.ok("", "node", "drain", from, "--wait-timeout", "5m")
	time.Sleep(2 * time.Second)
	ok, failed = l.end()
	a = c.schedApp("echo")
	_, on = a.healthy()
	t.Logf("drain of %s with a replica: %d ok, %d failed; replicas now on %v", from, ok, failed, on)
	if failed > 0 || ok < 20 || len(on) != 2 || on[0] != to || on[1] != to {
		t.Fatalf("drain with replicas: %d ok, %d failed (first: %v), replicas on %v; want both on %s", ok, failed, l.first.Load(), on, to)
	}
}
