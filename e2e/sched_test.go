package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gasper/internal/container"
)

// schedApp is what the scheduling tests read of `gasper app info --json`.
type schedApp struct {
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	Release      int    `json:"release"`
	Node         string `json:"node"`
	NodeName     string `json:"node_name"`
	Placement    string `json:"placement"`
	Replicas     int    `json:"replicas"`
	Running      int    `json:"running"`
	Instances    []struct {
		ID       string `json:"id"`
		NodeName string `json:"node_name"`
		State    string `json:"state"`
		Release  int    `json:"release"`
	} `json:"instances"`
}

func (c *cluster) schedApp(name string) schedApp {
	c.t.Helper()
	var a schedApp
	if err := json.Unmarshal([]byte(c.ok("", "app", "info", name, "--json")), &a); err != nil {
		c.t.Fatalf("app info --json: %v", err)
	}
	return a
}

// instanceNodes lists the nodes an app's instances run on.
func (a schedApp) instanceNodes() string {
	var ns []string
	for _, in := range a.Instances {
		ns = append(ns, in.NodeName)
	}
	sort.Strings(ns)
	return strings.Join(ns, ",")
}

// TestSchedPlacement: apps go where memory is free; an app no node has room
// for is pending with the reason and is placed when room appears; a cordoned
// node takes no new app.
func TestSchedPlacement(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	tok := c.joinToken()
	c.agentRoles("node1", "127.0.0.2", tok, "app,proxy,dns")
	mem := c.waitNode("node1", "ready", 30*time.Second).Facts.MemoryBytes
	// Two of these do not fit on one node; each fits alone.
	big := fmt.Sprintf("%dM", mem*6/10>>20)
	src := copyExample(t, "static")

	c.ok("", "app", "create", "first", "--from", src, "--memory", big, "--wait-timeout", "3m")
	if a := c.schedApp("first"); a.NodeName != "node1" || !strings.Contains(a.Placement, "app.place on node1") {
		t.Fatalf("first: node %q, placement %q; want node1 and its placement", a.NodeName, a.Placement)
	}

	// No room: the CLI says pending and why; app info says the same.
	_, errOut, code := c.gasper("", "app", "create", "second", "--from", src, "--memory", big, "--wait-timeout", "3m")
	if code == 0 || !strings.Contains(errOut, "second is pending: needs ") || !strings.Contains(errOut, "the most any app node has free is") {
		t.Fatalf("second create: exit %d, want pending with the reason:\n%s", code, errOut)
	}
	a := c.schedApp("second")
	if a.Status != "pending" || !strings.Contains(a.StatusReason, "the most any app node has free is") || a.Node != "" {
		t.Fatalf("second: %+v; want pending, unplaced, with the reason", a)
	}
	t.Logf("pending: %s", a.StatusReason)
	_, errOut, code = c.gasper("", "app", "create", "huge", "--from", src, "--memory", "1000G", "--wait-timeout", "3m")
	if code == 0 || !strings.Contains(errOut, "needs 1000 GiB of memory") {
		t.Fatalf("huge create: exit %d\n%s", code, errOut)
	}
	if a := c.schedApp("huge"); a.Status != "pending" || !strings.Contains(a.Placement, "app.pending needs 1000 GiB") {
		t.Fatalf("huge: %+v; want pending, with the decision shown", a)
	}

	// Lower the ask: it is placed and runs.
	c.ok("", "app", "update", "huge", "--memory", "64M", "--wait-timeout", "3m")
	c.waitApp("huge", "running", 0, 30*time.Second)

	// A cordoned node takes nothing new; what runs there stays.
	c.ok("", "node", "cordon", "node1")
	if out := c.ok("", "node", "list"); !strings.Contains(out, "ready,cordoned") {
		t.Fatalf("node list does not show the cordon:\n%s", out)
	}
	_, errOut, code = c.gasper("", "app", "create", "third", "--from", src, "--memory", "64M", "--wait-timeout", "3m")
	if code == 0 || !strings.Contains(errOut, "every ready app node is cordoned") {
		t.Fatalf("third create on a cordoned cluster: exit %d\n%s", code, errOut)
	}
	if a := c.schedApp("first"); a.Status != "running" {
		t.Fatalf("first on the cordoned node: %+v", a)
	}
	c.ok("", "node", "uncordon", "node1")
	c.waitApp("third", "running", 0, 3*time.Minute)

	// Room appears: a node joins, and second is placed there and runs, by itself.
	c.agentRoles("node2", "127.0.0.3", tok, "app")
	took := waitFor(t, 3*time.Minute, "second to run once node2 takes apps", func() bool {
		return c.schedApp("second").Status == "running"
	})
	if a := c.schedApp("second"); a.NodeName != "node2" || a.instanceNodes() != "node2" {
		t.Fatalf("second: %+v; want it on node2", a)
	}
	t.Logf("pending app placed and running %s after room appeared", took.Round(100*time.Millisecond))
	if out := c.ok("", "app", "info", "second"); !strings.Contains(out, "node2") || !strings.Contains(out, "app.place") {
		t.Errorf("app info does not show the placement:\n%s", out)
	}
}

// loop sends requests to an app through a proxy until stopped, counting.
type loop struct {
	ok, failed atomic.Int64
	first      atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoop(t *testing.T, proxy, url, want string, workers int) *loop {
	l := &loop{stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				out, err := curl(t, proxy, url)
				if err == nil && strings.Contains(out, want) {
					l.ok.Add(1)
				} else {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, out)
				}
			}
		}()
	}
	return l
}

func (l *loop) end() (int64, int64) {
	close(l.stop)
	l.wg.Wait()
	return l.ok.Load(), l.failed.Load()
}

// TestSchedDrainAndFailover: a drain under load moves apps with no failed
// request; a node that dies has its app rebuilt elsewhere, and when it
// returns it stops what moved away.
func TestSchedDrainAndFailover(t *testing.T) {
	needContainerd(t)
	c := newClusterBeating(t, time.Second, 5*time.Second) // the master's defaults
	c.login()
	tok := c.joinToken()
	c.agentRoles("edge", "127.0.0.2", tok, "proxy,dns")
	c.agentRoles("node1", "127.0.0.3", tok, "app")
	c.agentRoles("node2", "127.0.0.4", tok, "app")
	for _, n := range []string{"edge", "node1", "node2"} {
		c.waitNode(n, "ready", 30*time.Second)
	}
	proxy := c.nets["edge"].http
	src := copyExample(t, "static")
	for _, app := range []string{"alpha", "beta"} {
		c.ok("", "app", "create", app, "--from", src, "--env", "GREETING="+app, "--wait-timeout", "3m")
	}
	for _, app := range []string{"alpha", "beta"} {
		waitFor(t, 20*time.Second, "the proxy to route "+app, func() bool {
			out, _ := curl(t, proxy, "http://"+app+"."+domain+"/")
			return strings.Contains(out, "hello="+app)
		})
	}

	// Drain the node alpha is on, under load on both apps.
	from := c.schedApp("alpha").NodeName
	other := map[string]string{"node1": "node2", "node2": "node1"}[from]
	la := startLoop(t, proxy, "http://alpha."+domain+"/", "hello=alpha", 2)
	lb := startLoop(t, proxy, "http://beta."+domain+"/", "hello=beta", 2)
	start := time.Now()
	_, errOut, code := c.gasper("", "node", "drain", from, "--wait-timeout", "5m")
	took := time.Since(start)
	time.Sleep(2 * time.Second) // requests after the drain count too
	okA, failA := la.end()
	okB, failB := lb.end()
	if code != 0 {
		t.Fatalf("node drain %s: exit %d\n%s", from, code, errOut)
	}
	t.Logf("drain of %s took %s; alpha %d ok %d failed, beta %d ok %d failed", from, took.Round(100*time.Millisecond), okA, failA, okB, failB)
	if failA+failB > 0 || okA < 20 || okB < 20 {
		t.Fatalf("drain under load: alpha %d ok %d failed (first: %v), beta %d ok %d failed (first: %v)", okA, failA, la.first.Load(), okB, failB, lb.first.Load())
	}
	for _, app := range []string{"alpha", "beta"} {
		if a := c.schedApp(app); a.NodeName != other || a.instanceNodes() != other {
			t.Fatalf("%s after the drain: node %s, instances on %s; want %s", app, a.NodeName, a.instanceNodes(), other)
		}
	}
	if out := c.ok("", "node", "info", from); !strings.Contains(out, "Cordoned") || !strings.Contains(out, "yes") {
		t.Errorf("node info after drain:\n%s", out)
	}
	c.ok("", "node", "uncordon", from)

	// Node failure: the machine dies (agent killed, containers gone). The
	// apps run again on the other node; time from kill to serving again.
	// The last round kills only the agent: its containers live on, and must
	// be stopped when it returns.
	var times []time.Duration
	const rounds = 4
	for round := 1; round <= rounds; round++ {
		victim := c.schedApp("alpha").NodeName
		survivor := other
		if victim == other {
			survivor = from
		}
		c.nodeProc[victim].kill()
		killed := time.Now()
		machineDied := round < rounds
		if machineDied {
			cleanupNode(t, c.nets[victim], filepath.Join(c.dir, victim))
			waitFor(t, 3*time.Minute, "alpha to serve again after "+victim+" died", func() bool {
				out, _ := curl(t, proxy, "http://alpha."+domain+"/")
				return strings.Contains(out, "hello=alpha")
			})
			took := time.Since(killed)
			times = append(times, took)
			t.Logf("round %d: %s died; alpha served again from %s after %s", round, victim, c.schedApp("alpha").instanceNodes(), took.Round(100*time.Millisecond))
		}
		for _, app := range []string{"alpha", "beta"} {
			waitFor(t, 3*time.Minute, app+" to run on "+survivor, func() bool {
				a := c.schedApp(app)
				return a.Status == "running" && a.instanceNodes() == survivor
			})
			waitFor(t, 20*time.Second, "the proxy to route "+app, func() bool {
				out, _ := curl(t, proxy, "http://"+app+"."+domain+"/")
				return strings.Contains(out, "hello="+app)
			})
		}
		for _, app := range []string{"alpha", "beta"} {
			if a := c.schedApp(app); a.NodeName != survivor || a.instanceNodes() != survivor || a.Release != 1 {
				t.Fatalf("round %d: %s: node %s, instances %s, release %d; want all on %s, release 1", round, app, a.NodeName, a.instanceNodes(), a.Release, survivor)
			}
		}
		// The node comes back: it is told its apps moved, and stops them
		// (the last round killed only the agent, so its containers were still there).
		c.agentRoles(victim, c.nodes()[victim].Advertise, "", "app")
		c.waitNode(victim, "ready", 30*time.Second)
		back := time.Now()
		waitFor(t, 30*time.Second, victim+" to stop what moved away", func() bool {
			if len(nodeContainers(t, c, victim)) > 0 {
				return false
			}
			for _, app := range []string{"alpha", "beta"} {
				if a := c.schedApp(app); a.instanceNodes() != survivor || a.Status != "running" {
					return false
				}
			}
			return true
		})
		t.Logf("round %d: %s back; it ran nothing of the moved apps %s later", round, victim, time.Since(back).Round(100*time.Millisecond))
		// Alternate the victim: move alpha back with a drain of the survivor.
		if round < rounds {
			c.ok("", "node", "drain", survivor, "--wait-timeout", "5m")
			c.ok("", "node", "uncordon", survivor)
			from, other = survivor, victim
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("node failure to serving again (grace %s): median %s of %v", c.grace, times[len(times)/2].Round(100*time.Millisecond), times)
}

// nodeContainers lists the containers in a node's containerd namespace.
func nodeContainers(t *testing.T, c *cluster, name string) []string {
	t.Helper()
	ctx := context.Background()
	client, err := container.Connect(ctx, containerdSocket, c.nets[name].ns)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	cs, err := client.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers of %s: %v", name, err)
	}
	var ids []string
	for _, ct := range cs {
		ids = append(ids, ct.ID())
	}
	return ids
}
