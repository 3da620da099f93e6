package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gitRepo is a git repository the test made and serves with git daemon.
type gitRepo struct {
	t   *testing.T
	dir string // the work tree
	url string // git://127.0.0.1:PORT/repo
}

// git runs git in the repository with a test identity and fails the test
// when it fails.
func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Gasper E2E", "-c", "user.email=e2e@gasper.local",
		"-c", "commit.gpgsign=false", "-C", r.dir}, args...)...)
	// The developer's own git settings must not change what is committed.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// serveGitRepo makes a repository named "repo" from examples/NAME with one
// commit on main, and serves it with git daemon on a free loopback port
// until the test ends.
func serveGitRepo(t *testing.T, example string) *gitRepo {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "repo")
	if out, err := exec.Command("cp", "-r", filepath.Join("..", "examples", example), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy example: %v %s", err, out)
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.git("add", "-A")
	r.git("commit", "-q", "-m", "example "+example)

	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	logPath := filepath.Join(base, "git-daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d := exec.Command("git", "daemon", "--reuseaddr", "--listen=127.0.0.1", "--port="+port,
		"--base-path="+base, "--export-all", base)
	d.Stdout, d.Stderr = logf, logf
	if err := d.Start(); err != nil {
		t.Fatalf("start git daemon: %v", err)
	}
	done := make(chan struct{})
	go func() { d.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		d.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			d.Process.Kill()
			<-done
		}
	})
	waitFor(t, 10*time.Second, "git daemon to listen on "+addr, func() bool {
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("git daemon exited: %s", b)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	r.url = "git://" + addr + "/repo"
	return r
}

// TestGitDeploy deploys an app from a git repository served on loopback,
// rebuilds it after a commit, and checks what a wrong branch and unsafe
// URLs give.
func TestGitDeploy(t *testing.T) {
	needContainerd(t)
	repo := serveGitRepo(t, "python3")
	c := newCluster(t)
	c.login()
	const node = "gitnode"
	c.agent(node, "127.0.0.4", c.joinToken())
	c.waitNode(node, "ready", 30*time.Second)

	t.Run("create", func(t *testing.T) {
		c := c.on(t)
		out, errOut, code := c.gasper("", "app", "create", "gitapp", "--git", repo.url, "--branch", "main",
			"--env", "GREETING=x", "--wait-timeout", "5m")
		if code != 0 {
			t.Fatalf("app create gitapp --git: exit %d\nstderr:\n%s\n%s", code, tail(errOut, 25), c.diagnose("gitapp", node))
		}
		addr := strings.TrimPrefix(strings.TrimSpace(out), "http://")
		if st, body := get(t, addr); st != 200 || !strings.HasPrefix(body, "python3 ") || !strings.Contains(body, "hello=x") {
			t.Fatalf("GET %s: %d %q, want 200 and python3 ...: hello=x", addr, st, body)
		}
		a := c.app("gitapp")
		if a.Status != "running" || a.Release != 1 {
			t.Fatalf("gitapp: status %q release %d, want running 1", a.Status, a.Release)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		c := c.on(t)
		before := c.app("gitapp")
		app := filepath.Join(repo.dir, "app.py")
		b, err := os.ReadFile(app)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Replace(b, []byte(`: hello=`), []byte(`: second commit, hello=`), 1)
		if bytes.Equal(changed, b) {
			t.Fatalf("app.py of examples/python3 has no %q to change", `: hello=`)
		}
		if err := os.WriteFile(app, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		repo.git("commit", "-q", "-am", "second commit")

		out, errOut, code := c.gasper("", "app", "rebuild", "gitapp", "--wait-timeout", "5m")
		if code != 0 {
			t.Fatalf("app rebuild gitapp: exit %d\nstderr:\n%s\n%s", code, tail(errOut, 25), c.diagnose("gitapp", node))
		}
		addr := strings.TrimPrefix(strings.TrimSpace(out), "http://")
		if st, body := get(t, addr); st != 200 || !strings.Contains(body, "second commit, hello=x") {
			t.Fatalf("GET %s after rebuild: %d %q, want the second commit's body", addr, st, body)
		}
		after := c.app("gitapp")
		if after.Status != "running" || after.Release != before.Release+1 {
			t.Fatalf("after rebuild: status %q release %d, want running %d", after.Status, after.Release, before.Release+1)
		}
	})

	// git's own words name the missing branch; Gasper must pass them on.
	t.Run("wrong branch on create", func(t *testing.T) {
		c := c.on(t)
		t.Cleanup(func() { c.gasper("", "app", "delete", "gitnobranch", "--yes") })
		_, errOut, code := c.gasper("", "app", "create", "gitnobranch", "--git", repo.url, "--branch", "no-such-branch",
			"--wait-timeout", "2m")
		t.Logf("create with a wrong branch: exit %d\n%s", code, tail(errOut, 10))
		if code == 0 {
			t.Fatalf("create with branch no-such-branch succeeded")
		}
		if !strings.Contains(errOut, "branch no-such-branch not found") {
			t.Errorf("create with a wrong branch does not say the branch no-such-branch was not found:\n%s", errOut)
		}
		if a := c.app("gitnobranch"); a.Status != "failed" {
			t.Errorf("gitnobranch: status %q, want failed", a.Status)
		}
	})

	t.Run("branch gone on rebuild", func(t *testing.T) {
		c := c.on(t)
		repo.git("branch", "feature")
		t.Cleanup(func() { c.gasper("", "app", "delete", "gitfeature", "--yes") })
		out, errOut, code := c.gasper("", "app", "create", "gitfeature", "--git", repo.url, "--branch", "feature",
			"--env", "GREETING=feat", "--wait-timeout", "5m")
		if code != 0 {
			t.Fatalf("app create gitfeature: exit %d\n%s\n%s", code, tail(errOut, 25), c.diagnose("gitfeature", node))
		}
		addr := strings.TrimPrefix(strings.TrimSpace(out), "http://")
		before := c.app("gitfeature")

		repo.git("branch", "-D", "feature")
		_, errOut, code = c.gasper("", "app", "rebuild", "gitfeature", "--wait-timeout", "2m")
		t.Logf("rebuild of a deleted branch: exit %d\n%s", code, tail(errOut, 10))
		if code == 0 {
			t.Fatalf("rebuild of the deleted branch feature succeeded")
		}
		if !strings.Contains(errOut, "branch feature not found") {
			t.Errorf("rebuild does not say the branch feature was not found:\n%s", errOut)
		}
		// The failed rebuild leaves the running release serving.
		if st, body := get(t, addr); st != 200 || !strings.Contains(body, "hello=feat") {
			t.Errorf("after the failed rebuild GET %s: %d %q", addr, st, body)
		}
		if a := c.app("gitfeature"); a.Release != before.Release || a.Status != "running" {
			t.Errorf("after the failed rebuild: status %q release %d, want running %d", a.Status, a.Release, before.Release)
		}
	})

	// URLs that would make git read the master's disk or take an option are
	// refused before the app exists and before git runs.
	t.Run("unsafe URLs", func(t *testing.T) {
		c := c.on(t)
		marker := filepath.Join(t.TempDir(), "ran")
		for i, u := range []string{
			"--upload-pack=touch${IFS}" + marker,
			"file://" + repo.dir,
			repo.dir,
			"ext::touch${IFS}" + marker,
		} {
			name := "gitbad" + string(rune('a'+i))
			_, errOut, code := c.gasper("", "app", "create", name, "--git="+u, "--wait-timeout", "1m")
			if code == 0 || !strings.Contains(errOut, "git URL") || !strings.Contains(errOut, u) {
				t.Errorf("create --git=%s: exit %d, want a refusal naming the URL:\n%s", u, code, errOut)
				c.gasper("", "app", "delete", name, "--yes")
				continue
			}
			t.Logf("--git=%s: exit %d: %s", u, code, strings.TrimSpace(errOut))
			if _, _, code := c.gasper("", "app", "info", name); code != 5 {
				t.Errorf("create --git=%s was refused but left app %s behind (app info exit %d)", u, name, code)
				c.gasper("", "app", "delete", name, "--yes")
			}
		}
		// An ssh:// URL whose host is an option passes the URL check; git
		// itself must then refuse to hand it to ssh.
		_, errOut, code := c.gasper("", "app", "create", "gitsshopt", "--git=ssh://-oProxyCommand=touch${IFS}"+marker+"/repo",
			"--wait-timeout", "1m")
		c.gasper("", "app", "delete", "gitsshopt", "--yes")
		if code == 0 {
			t.Errorf("create from ssh://-oProxyCommand=... succeeded:\n%s", errOut)
		}
		t.Logf("ssh://-oProxyCommand=...: exit %d:\n%s", code, tail(errOut, 4))
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("a refused git URL ran a command: %s exists", marker)
		}
	})
}
