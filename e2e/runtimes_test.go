package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runtimeExamples are the runtimes with an example app under examples/,
// in the order TestRuntimes deploys them.
var runtimeExamples = []string{"static", "php", "python3", "python2", "nodejs", "golang", "ruby", "rust"}

// on returns a view of the cluster whose helpers report to t, so that a
// subtest's failures end the subtest and not its parent (FailNow must run
// on the goroutine of the test it belongs to).
func (c *cluster) on(t *testing.T) *cluster {
	cc := *c
	cc.t = t
	return &cc
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// diagnose returns what a failing test should show: the app as the master
// sees it and the end of the node's agent log.
func (c *cluster) diagnose(app, node string) string {
	info, errOut, _ := c.gasper("", "app", "info", app)
	agentLog := ""
	if p := c.nodeProc[node]; p != nil {
		agentLog = tail(p.logText(), 30)
	}
	return fmt.Sprintf("gasper app info %s:\n%s%s\nagent log (last lines):\n%s", app, info, errOut, agentLog)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestRuntimes deploys the example app of every runtime, one after the
// other on one node, and checks each answers with its runtime, its version
// and the greeting it was given.
func TestRuntimes(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	const node = "rtnode"
	c.agent(node, "127.0.0.3", c.joinToken())
	c.waitNode(node, "ready", 30*time.Second)
	ns := c.nets[node].ns

	for _, rt := range runtimeExamples {
		t.Run(rt, func(t *testing.T) {
			c := c.on(t)
			name := rt + "-ex"
			greeting := "hi-" + rt + "-" + randomHex(t, 4)
			src, err := filepath.Abs(filepath.Join("..", "examples", rt))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.gasper("", "app", "delete", name, "--yes") })

			start := time.Now()
			out, errOut, code := c.gasper("", "app", "create", name, "--from", src,
				"--env", "GREETING="+greeting, "--wait-timeout", "10m")
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("app create %s: exit %d after %s\nstderr (last lines):\n%s\n%s",
					name, code, took.Round(time.Millisecond), tail(errOut, 25), c.diagnose(name, node))
			}
			addr, ok := strings.CutPrefix(strings.TrimSpace(out), "http://")
			if !ok || addr == "" {
				t.Fatalf("app create %s printed %q, want http://HOST:PORT", name, out)
			}
			t.Logf("%s: create to running in %s", rt, took.Round(time.Millisecond))

			// The body names the runtime, a version and the greeting, e.g.
			// "python3 3.11.2: hello=hi-python3-1a2b3c4d".
			want := regexp.MustCompile(regexp.QuoteMeta(rt) + ` [^\s:]+: hello=` + regexp.QuoteMeta(greeting) + `\b`)
			st, body := get(t, addr)
			if st != 200 || !want.MatchString(body) {
				t.Fatalf("GET http://%s: %d %q, want 200 and a body matching %s\n%s", addr, st, body, want, c.diagnose(name, node))
			}
			t.Logf("%s answers: %s", rt, strings.TrimSpace(want.FindString(body)))

			a := c.app(name)
			if a.Status != "running" || a.Release != 1 || a.Address != addr {
				t.Fatalf("app info %s --json: status %q release %d address %q, want running, 1, %s", name, a.Status, a.Release, a.Address, addr)
			}

			c.ok("", "app", "delete", name, "--yes")
			if _, errOut, code := c.gasper("", "app", "info", name); code != 5 {
				t.Fatalf("app info %s after delete: exit %d, want 5 (not found): %s", name, code, errOut)
			}
			// The next runtime starts on a node without this one's container.
			waitFor(t, 60*time.Second, "the containers of "+name+" to go", func() bool {
				cs, _ := exec.Command("ctr", "-n", ns, "containers", "ls", "-q").Output()
				return !strings.Contains(string(cs), name)
			})
			if st, _ := get(t, addr); st == 200 {
				t.Errorf("http://%s still answers 200 after the app was deleted", addr)
			}
		})
	}
}
