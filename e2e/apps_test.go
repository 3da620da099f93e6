package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// appView is what the tests read of `gasper app info --json`.
type appView struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	Release      int    `json:"release"`
	Address      string `json:"address"`
	Instances    []struct {
		ID        string `json:"id"`
		Release   int    `json:"release"`
		State     string `json:"state"`
		Restarts  int    `json:"restarts"`
		ExitCode  int    `json:"exit_code"`
		OOMKilled bool   `json:"oom_killed"`
		LastLog   string `json:"last_log"`
	} `json:"instances"`
}

func (c *cluster) app(name string) appView {
	c.t.Helper()
	var a appView
	if err := json.Unmarshal([]byte(c.ok("", "app", "info", name, "--json")), &a); err != nil {
		c.t.Fatalf("app info --json: %v", err)
	}
	return a
}

// waitApp waits until the app is in status (and, if release > 0, runs it).
func (c *cluster) waitApp(name, status string, release int, within time.Duration) appView {
	c.t.Helper()
	var a appView
	waitFor(c.t, within, "app "+name+" to be "+status, func() bool {
		a = c.app(name)
		return a.Status == status && (release == 0 || a.Release == release)
	})
	return a
}

func get(t *testing.T, addr string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + addr + "/")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// copyExample copies examples/NAME into a temp dir the test may change.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "-r", filepath.Join("..", "examples", name), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy example: %v %s", err, out)
	}
	return dst
}

// TestApps drives one app through its life with the real binaries.
func TestApps(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	c.agent("node1", "127.0.0.2", c.joinToken())
	c.waitNode("node1", "ready", 30*time.Second)

	// Create from a directory: the build log streams, the address comes out.
	src := copyExample(t, "static")
	out, errOut, code := c.gasper("", "app", "create", "web", "--from", src, "--env", "GREETING=hola", "--wait-timeout", "3m")
	if code != 0 {
		t.Fatalf("app create: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "==> build succeeded") {
		t.Errorf("create did not show the build log:\n%s", errOut)
	}
	addr := strings.TrimPrefix(strings.TrimSpace(out), "http://")
	if st, body := get(t, addr); st != 200 || !strings.Contains(body, "static") || !strings.Contains(body, "hola") {
		t.Fatalf("GET %s: %d %q", addr, st, body)
	}

	// Redeploy a changed tree: the new body serves; rollback brings the old.
	tmpl := filepath.Join(src, "index.html.in")
	b, _ := os.ReadFile(tmpl)
	os.WriteFile(tmpl, bytes.Replace(b, []byte("hello="), []byte("version two, hello="), 1), 0o644)
	c.ok("", "app", "deploy", "web", "--from", src, "--wait-timeout", "3m")
	a := c.waitApp("web", "running", 2, 30*time.Second)
	if _, body := get(t, a.Address); !strings.Contains(body, "version two") {
		t.Fatalf("after redeploy: %q", body)
	}
	c.ok("", "app", "rollback", "web", "1")
	a = c.waitApp("web", "running", 3, 30*time.Second)
	if _, body := get(t, a.Address); strings.Contains(body, "version two") || !strings.Contains(body, "hola") {
		t.Fatalf("after rollback: %q", body)
	}

	// Environment changes roll out a release with the new value.
	c.ok("", "app", "env", "set", "web", "GREETING=bonjour")
	a = c.waitApp("web", "running", 4, 30*time.Second)
	if _, body := get(t, a.Address); !strings.Contains(body, "bonjour") {
		t.Fatalf("after env set: %q", body)
	}
	if env := c.ok("", "app", "env", "list", "web"); !strings.Contains(env, "GREETING=bonjour") {
		t.Fatalf("env list: %q", env)
	}
	waitFor(t, 30*time.Second, "the replaced instances to stop", func() bool { return len(c.app("web").Instances) == 1 })

	// A broken build fails with its log; the running release keeps serving.
	_, errOut, code = c.gasper("", "app", "create", "broken", "--from", src, "--build-cmd", "echo compiling; echo 'syntax error' >&2; exit 3", "--wait-timeout", "2m")
	if code == 0 || !strings.Contains(errOut, "syntax error") || !strings.Contains(errOut, "exited with code 3") {
		t.Fatalf("broken build: exit %d\n%s", code, errOut)
	}
	if b := c.app("broken"); b.Status != "failed" {
		t.Fatalf("broken app status %q, want failed", b.Status)
	}
	if _, body := get(t, c.app("web").Address); !strings.Contains(body, "bonjour") {
		t.Fatalf("web stopped serving during another app's failed build: %q", body)
	}

	// A crashing process: crashloop with its exit code and last lines.
	c.ok("", "app", "create", "crash", "--from", src, "--start-cmd", "echo boom before exit; exit 7", "--no-wait")
	cr := c.waitApp("crash", "crashloop", 0, 2*time.Minute)
	if len(cr.Instances) == 0 || cr.Instances[0].ExitCode != 7 || !strings.Contains(cr.Instances[0].LastLog, "boom before exit") {
		t.Fatalf("crashloop instance: %+v", cr.Instances)
	}
	if logs := c.ok("", "app", "logs", "crash", "--tail", "5"); !strings.Contains(logs, "boom before exit") {
		t.Fatalf("app logs of a crashing app: %q", logs)
	}

	// Out of memory: the kernel kills it, and Gasper says so.
	c.ok("", "app", "create", "hog", "--from", src, "--memory", "32M", "--no-wait",
		"--start-cmd", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 100")
	hog := c.waitApp("hog", "oom", 0, 2*time.Minute)
	if !hog.Instances[0].OOMKilled {
		t.Fatalf("oom instance: %+v", hog.Instances)
	}

	// Archives that escape their directory are refused before anything runs.
	for name, entry := range map[string]*tar.Header{
		"dotdot":   {Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644},
		"absolute": {Name: "/etc/cron.d/x", Typeflag: tar.TypeReg, Mode: 0o644},
		"symlink":  {Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"},
	} {
		st, body := c.upload(t, "web", entry)
		if st != 400 || !strings.Contains(body, "refused") {
			t.Errorf("%s archive: %d %s", name, st, body)
		}
	}
	if _, errOut, code := c.gasper("", "app", "create", "Bad_Name", "--from", src); code != 2 || !strings.Contains(errOut, "Bad_Name") {
		t.Errorf("invalid name: exit %d %s", code, errOut)
	}

	// Another user sees nothing of it.
	c.ok("eve-password-1", "user", "create", "eve@example.com", "--password-stdin")
	eve := t.TempDir()
	c.gasperAs(eve, "eve-password-1", "login", "--master", "http://"+c.api, "--email", "eve@example.com", "--password-stdin")
	for _, args := range [][]string{{"app", "info", "web"}, {"app", "logs", "web"}, {"app", "delete", "web", "--yes"},
		{"app", "env", "list", "web"}, {"app", "deploy", "web", "--from", src}} {
		if _, errOut, code := c.gasperAs(eve, "", args...); code != 5 {
			t.Errorf("eve: gasper %s: exit %d, want 5 (not found): %s", strings.Join(args, " "), code, errOut)
		}
	}
	if out := c.gasperOut(eve, "app", "list", "--json"); strings.Contains(out, "web") {
		t.Errorf("eve's app list shows web: %s", out)
	}

	// Restart the agent: the app keeps serving and is re-adopted, not doubled.
	web := c.app("web")
	p := c.nodeProc["node1"]
	p.stop()
	if st, _ := get(t, web.Address); st != 200 {
		t.Fatalf("app stopped serving while its agent was down: %d", st)
	}
	c.agent("node1", "127.0.0.2", "")
	c.waitNode("node1", "ready", 20*time.Second)
	time.Sleep(3 * time.Second)
	if again := c.waitApp("web", "running", web.Release, 20*time.Second); len(again.Instances) != 1 || again.Instances[0].ID != web.Instances[0].ID {
		t.Fatalf("after agent restart: %+v, want the one instance %s", again.Instances, web.Instances[0].ID)
	}

	// Restart the master: the app keeps serving throughout.
	c.master.stop()
	if st, _ := get(t, web.Address); st != 200 {
		t.Fatalf("app stopped serving while the master was down: %d", st)
	}
	c.startMaster()
	c.waitApp("web", "running", web.Release, 20*time.Second)

	// Delete: nothing is left on the node.
	for _, name := range []string{"web", "broken", "crash", "hog"} {
		c.ok("", "app", "delete", name, "--yes")
	}
	ns := c.nets["node1"].ns
	waitFor(t, 60*time.Second, "the deleted apps' containers and images to go", func() bool {
		cs, _ := exec.Command("ctr", "-n", ns, "containers", "ls", "-q").Output()
		imgs, _ := exec.Command("ctr", "-n", ns, "images", "ls", "-q").Output()
		return strings.TrimSpace(string(cs)) == "" && !strings.Contains(string(imgs), "gasper.local/app/")
	})
}

// upload sends a one-entry archive straight to the API, as a hostile
// client would (the CLI refuses to make such archives).
func (c *cluster) upload(t *testing.T, app string, h *tar.Header) (int, string) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(h)
	tw.Close()
	zw.Close()
	var creds struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := os.ReadFile(filepath.Join(c.cliConfig, "credentials.json"))
	json.Unmarshal(raw, &creds)
	req, _ := http.NewRequest("POST", "http://"+c.api+"/api/v1/apps/"+app+"/source", &buf)
	req.Header.Set("Authorization", "Bearer "+creds.AccessToken)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *cluster) gasperOut(configDir string, args ...string) string {
	out, _, _ := c.gasperAs(configDir, "", args...)
	return out
}
