package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sshUser is a user of the test with a CLI config and an SSH key.
type sshUser struct {
	email  string
	config string // CLI config dir
	key    string // private key file
}

// newSSHUser creates a user, logs the CLI in as them and makes them a key
// with ssh-keygen (not registered yet).
func (c *cluster) newSSHUser(name string) sshUser {
	c.t.Helper()
	u := sshUser{email: name + "@example.com", config: filepath.Join(c.dir, "cli-"+name), key: filepath.Join(c.t.TempDir(), "id_"+name)}
	c.ok(name+"-password-1", "user", "create", u.email, "--password-stdin")
	if _, errOut, code := c.gasperAs(u.config, name+"-password-1", "login", "--master", "http://"+c.api, "--email", u.email, "--password-stdin"); code != 0 {
		c.t.Fatalf("login %s: %s", u.email, errOut)
	}
	newKey(c.t, u.key)
	return u
}

func newKey(t *testing.T, file string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", filepath.Base(file), "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

// as runs the CLI as u and fails the test unless it exits 0.
func (c *cluster) as(u sshUser, stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.gasperAs(u.config, stdin, args...)
	if code != 0 {
		c.t.Fatalf("gasper %s as %s: exit %d\n%s%s", strings.Join(args, " "), u.email, code, out, errOut)
	}
	return out
}

// sshOpts are the OpenSSH options of every test connection: no user
// config, no known hosts, only the given key.
func sshOpts(key string) []string {
	return []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-i", key}
}

// run runs a client program with a deadline and returns its output and
// exit code.
func run(t *testing.T, stdin string, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after 2m", name, strings.Join(args, " "))
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return out.String(), errOut.String(), code
}

// ssh runs the OpenSSH client against addr (host:port) as login.
func ssh(t *testing.T, key, login, addr string, command ...string) (string, string, int) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	return run(t, "", nil, "ssh", append(append(sshOpts(key), "-p", port, login+"@"+host), command...)...)
}

// terminal runs command in a tmux window of its own (80x24, see newTmux);
// when command ends the window shows EXITED=its status.
func terminal(t *testing.T, command string) *tmux {
	return newTmux(t, 80, 24, nil, "sh", "-c", command+"; echo EXITED=$?; sleep 600")
}

// sttyResize resizes the window and waits until `stty size` in it shows
// the new size: the change travels to the remote terminal asynchronously,
// so the question is asked again until the answer comes.
func sttyResize(tm *tmux, cols, rows int) {
	tm.t.Helper()
	tm.resize(cols, rows)
	want := fmt.Sprintf("%d %d", rows, cols)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(tm.screen(), want) {
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal did not see its new size %s within 30s; it shows:\n%s", want, tm.screen())
		}
		tm.keys("clear; stty size", "Enter")
		time.Sleep(300 * time.Millisecond)
	}
}

// TestSSH drives the ssh role with OpenSSH's own clients: shells,
// commands, scp and sftp, git push, and who may do what, on the node that
// runs the app and through another node's ssh role.
func TestSSH(t *testing.T) {
	needContainerd(t)
	c := newCluster(t)
	c.login()
	tok := c.joinToken()
	c.agentRoles("node1", "127.0.0.2", tok, "app,db,ssh")
	c.agentRoles("node2", "127.0.0.3", tok, "ssh") // runs no apps: its sessions are relayed
	c.waitNode("node1", "ready", 30*time.Second)
	c.waitNode("node2", "ready", 30*time.Second)
	local, remote := c.nets["node1"].ssh, c.nets["node2"].ssh

	ann, bob := c.newSSHUser("ann"), c.newSSHUser("bob")
	c.as(ann, "", "ssh-key", "add", ann.key+".pub")
	c.as(bob, "", "ssh-key", "add", bob.key+".pub", "--name", "bob's laptop")
	if out := c.as(ann, "", "ssh-key", "list"); !strings.Contains(out, "id_ann") || strings.Contains(out, "bob") {
		t.Errorf("ann's key list:\n%s", out)
	}
	c.as(ann, "", "app", "create", "web", "--from", copyExample(t, "static"), "--wait-timeout", "3m")
	// Creating an app shows how to reach it over SSH.
	_, errOut, code := c.gasperAs(bob.config, "", "app", "create", "bobapp", "--empty")
	if code != 0 || !strings.Contains(errOut, "ssh -p ") || !strings.Contains(errOut, "bobapp@") || !strings.Contains(errOut, "/bobapp.git") {
		t.Fatalf("app create --empty: exit %d, want the SSH command and git remote on stderr:\n%s", code, errOut)
	}
	web := c.waitApp("web", "running", 1, 30*time.Second)
	c.as(ann, "", "db", "create", "redis", "cache") // its container, db-cache, must stay out of reach
	const secret = "only in the container 7f3a"
	c.as(ann, "", "app", "exec", "web", "--", "sh", "-c", "echo '"+secret+"' > /tmp/only-here")

	t.Run("commands: output, streams and exit codes", func(t *testing.T) {
		for _, addr := range []string{local, remote} {
			if out, errOut, code := ssh(t, ann.key, "web", addr, "cat /tmp/only-here"); code != 0 || out != secret+"\n" {
				t.Errorf("via %s: cat: exit %d, %q %q", addr, code, out, errOut)
			}
			if out, errOut, code := ssh(t, ann.key, "web", addr, "echo out; echo err >&2; exit 7"); code != 7 || out != "out\n" || errOut != "err\n" {
				t.Errorf("via %s: exit %d, stdout %q, stderr %q; want 7, out, err", addr, code, out, errOut)
			}
		}
		// An interrupted client (Ctrl-C on ssh without a terminal) takes its
		// command with it.
		for _, addr := range []string{local, remote} {
			host, port, _ := net.SplitHostPort(addr)
			client := exec.Command("ssh", append(sshOpts(ann.key), "-p", port, "web@"+host, "sleep 77")...)
			if err := client.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "sleep 77 to run in the container", func() bool {
				out, _, _ := ssh(t, ann.key, "web", local, "busybox ps")
				return strings.Contains(out, "sleep 77")
			})
			client.Process.Signal(syscall.SIGINT)
			client.Wait()
			waitFor(t, 20*time.Second, "sleep 77 to end with its client, via "+addr, func() bool {
				out, _, _ := ssh(t, ann.key, "web", local, "busybox ps")
				return !strings.Contains(out, "sleep 77")
			})
		}
		if out, _, code := ssh(t, ann.key, "web.1", remote, "hostname"); code != 0 || out != "web\n" {
			t.Errorf("web.1: exit %d %q", code, out)
		}
		if out, errOut, code := ssh(t, ann.key, "web.2", local, "true"); code == 0 || out != "" || !strings.Contains(errOut, "1 instance") {
			t.Errorf("web.2 of one instance: exit %d %q %q", code, out, errOut)
		}
	})

	t.Run("interactive shell with a terminal, resize and Ctrl-C", func(t *testing.T) {
		for _, addr := range []string{local, remote} {
			host, port, _ := net.SplitHostPort(addr)
			tm := terminal(t, "env TERM=xterm-256color ssh -tt "+strings.Join(sshOpts(ann.key), " ")+" -p "+port+" web@"+host)
			tm.waitScreen(30*time.Second, "@web:") // the prompt: typing earlier may be lost
			tm.keys("echo term=$TERM; stty size", "Enter")
			tm.waitScreen(30*time.Second, "24 80", "term=xterm-256color")
			sttyResize(tm, 100, 30)
			tm.keys("sleep 100", "Enter")
			time.Sleep(500 * time.Millisecond)
			tm.keys("C-c")
			tm.keys("echo rc=$?", "Enter")
			tm.waitScreen(30*time.Second, "rc=130")
			tm.keys("exit 3", "Enter")
			tm.waitScreen(30*time.Second, "EXITED=3")
		}
	})

	t.Run("denied: other users, unknown keys, wrong passwords, other names", func(t *testing.T) {
		stranger := filepath.Join(t.TempDir(), "id_stranger")
		newKey(t, stranger)
		for _, tt := range []struct{ key, login, addr, why string }{
			{bob.key, "web", local, "another user's key"},
			{bob.key, "web", remote, "another user's key, via the other node"},
			{stranger, "web", local, "an unknown key"},
			{ann.key, "bobapp", local, "an app the user does not own"},
			{ann.key, "bobapp.1", remote, "an instance of an app the user does not own"},
			{ann.key, web.Instances[0].ID, local, "a container's id"},
			{ann.key, "nosuchapp", local, "a name that is no app"},
			{ann.key, "cache", local, "the user's own database"},
			{ann.key, "db-cache", local, "the database's container"},
			{ann.key, "..", local, "a path"},
		} {
			out, errOut, code := ssh(t, tt.key, tt.login, tt.addr, "cat /tmp/only-here")
			if code != 255 || out != "" || !strings.Contains(errOut, "Permission denied") || strings.Contains(errOut, secret) {
				t.Errorf("%s (%s@%s): exit %d, stdout %q, stderr %q; want refused at login", tt.why, tt.login, tt.addr, code, out, errOut)
			}
		}
		// A password the owner sets lets in; a wrong one does not.
		c.as(ann, "an app password 42", "app", "ssh", "web", "--password-stdin")
		askpass := func(pw string) []string {
			f := filepath.Join(t.TempDir(), "askpass")
			os.WriteFile(f, []byte("#!/bin/sh\necho '"+pw+"'\n"), 0o700)
			return []string{"SSH_ASKPASS=" + f, "SSH_ASKPASS_REQUIRE=force"}
		}
		host, port, _ := net.SplitHostPort(remote)
		pwOpts := []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
			"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "-p", port}
		if out, errOut, code := run(t, "", askpass("an app password 42"), "ssh", append(pwOpts, "web@"+host, "cat /tmp/only-here")...); code != 0 || out != secret+"\n" {
			t.Errorf("right password: exit %d %q %q", code, out, errOut)
		}
		for _, login := range []string{"web", "bobapp", "git"} {
			if out, errOut, code := run(t, "", askpass("a wrong password"), "ssh", append(pwOpts, login+"@"+host, "cat /tmp/only-here")...); code != 255 || out != "" {
				t.Errorf("wrong password for %s: exit %d %q %q", login, code, out, errOut)
			}
		}
		c.as(ann, "", "app", "ssh", "web", "--clear-password")
		if _, _, code := run(t, "", askpass("an app password 42"), "ssh", append(pwOpts, "web@"+host, "true")...); code != 255 {
			t.Errorf("cleared password still logs in: exit %d", code)
		}
		// A key removed stops working at once.
		other := filepath.Join(t.TempDir(), "id_other")
		newKey(t, other)
		c.as(ann, "", "ssh-key", "add", other+".pub", "--name", "temporary")
		if _, _, code := ssh(t, other, "web", local, "true"); code != 0 {
			t.Errorf("a second key of ann's: exit %d", code)
		}
		c.as(ann, "", "ssh-key", "remove", "temporary")
		if _, _, code := ssh(t, other, "web", local, "true"); code != 255 {
			t.Errorf("a removed key: exit %d, want refused", code)
		}
	})

	t.Run("scp and sftp", func(t *testing.T) {
		dir := t.TempDir()
		data := make([]byte, 300<<10)
		rand.Read(data)
		in, back := filepath.Join(dir, "in.bin"), filepath.Join(dir, "back.bin")
		os.WriteFile(in, data, 0o644)
		scp := func(args ...string) {
			t.Helper()
			if out, errOut, code := run(t, "", nil, "scp", append(sshOpts(ann.key), args...)...); code != 0 {
				t.Fatalf("scp %s: exit %d %s %s", strings.Join(args, " "), code, out, errOut)
			}
		}
		rhost, rport, _ := net.SplitHostPort(remote)
		lhost, lport, _ := net.SplitHostPort(local)
		scp("-P", rport, in, "web@"+rhost+":/tmp/in.bin") // in through the relay
		scp("-P", lport, "web@"+lhost+":/tmp/in.bin", back)
		if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
			t.Fatalf("the file came back different: %d bytes, want %d", len(got), len(data))
		}
		if out, _, code := ssh(t, ann.key, "web", local, "sha256sum < /tmp/in.bin"); code != 0 || len(out) < 64 {
			t.Errorf("the file in the container: %q", out)
		}
		batch := "cd /tmp\nls -l\nrename in.bin moved.bin\nget moved.bin " + filepath.Join(dir, "moved.bin") + "\nmkdir newdir\nrmdir newdir\nrm moved.bin\n"
		out, errOut, code := run(t, batch, nil, "sftp", append(sshOpts(ann.key), "-P", rport, "-b", "-", "web@"+rhost)...)
		if code != 0 || !strings.Contains(out, "in.bin") {
			t.Fatalf("sftp batch: exit %d\n%s%s", code, out, errOut)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "moved.bin")); !bytes.Equal(got, data) {
			t.Errorf("sftp get: %d bytes, want %d", len(got), len(data))
		}
		if _, _, code := ssh(t, ann.key, "web", local, "test -e /tmp/moved.bin"); code != 1 {
			t.Errorf("after sftp rm the file is still there (test exit %d)", code)
		}
		// The container's own symlinks lead nowhere outside it.
		ssh(t, ann.key, "web", local, "ln -sf /etc/hostname /tmp/link-abs")
		scp("-P", lport, "web@"+lhost+":/tmp/link-abs", filepath.Join(dir, "hostname"))
		if got, _ := os.ReadFile(filepath.Join(dir, "hostname")); string(got) != "web\n" {
			t.Errorf("an absolute link in the container gave %q, want the container's hostname", got)
		}
		if _, _, code := run(t, "", nil, "sftp", append(sshOpts(bob.key), "-P", rport, "-b", "/dev/null", "web@"+rhost)...); code == 0 {
			t.Error("bob opened sftp into ann's app")
		}
	})

	t.Run("git push deploys; a broken build is rejected and the old release keeps serving", func(t *testing.T) {
		c.as(ann, "", "app", "create", "pushy", "--empty", "--build-cmd", `test ! -e BROKEN || { echo "syntax error in BROKEN" >&2; exit 3; }`)
		var v struct {
			GitRemote string `json:"git_remote"`
		}
		json.Unmarshal([]byte(c.as(ann, "", "app", "ssh", "pushy", "--json")), &v)
		if !strings.HasPrefix(v.GitRemote, "ssh://pushy@") {
			t.Fatalf("git remote %q", v.GitRemote)
		}
		repo := &gitRepo{t: t, dir: copyExample(t, "static")}
		repo.git("init", "-q", "-b", "main")
		repo.git("add", "-A")
		repo.git("commit", "-q", "-m", "first")
		gitSSH := "GIT_SSH_COMMAND=ssh " + strings.Join(sshOpts(ann.key), " ")
		push := func(remote string) (string, int) {
			out, errOut, code := run(t, "", []string{gitSSH, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}, "git", "-C", repo.dir, "push", remote, "main")
			return out + errOut, code
		}
		if out, code := push(v.GitRemote); code != 0 || !strings.Contains(out, "build succeeded") {
			t.Fatalf("first push: exit %d\n%s", code, out)
		}
		a := c.waitApp("pushy", "running", 1, time.Minute)
		if _, body := get(t, a.Address); !strings.Contains(body, "static") {
			t.Fatalf("after the first push: %q", body)
		}
		tmpl := filepath.Join(repo.dir, "index.html.in")
		b, _ := os.ReadFile(tmpl)
		os.WriteFile(tmpl, bytes.Replace(b, []byte("hello="), []byte("pushed two, hello="), 1), 0o644)
		repo.git("commit", "-q", "-am", "second")
		viaNode2 := "ssh://pushy@" + remote + "/pushy.git"
		if out, code := push(viaNode2); code != 0 {
			t.Fatalf("second push: exit %d\n%s", code, out)
		}
		a = c.waitApp("pushy", "running", 2, time.Minute)
		if _, body := get(t, a.Address); !strings.Contains(body, "pushed two") {
			t.Fatalf("after the second push: %q", body)
		}
		os.WriteFile(filepath.Join(repo.dir, "BROKEN"), []byte("x"), 0o644)
		repo.git("add", "BROKEN")
		repo.git("commit", "-q", "-m", "broken")
		out, code := push(v.GitRemote)
		if code == 0 || !strings.Contains(out, "syntax error in BROKEN") || !strings.Contains(out, "declined") {
			t.Fatalf("broken push: exit %d, want rejected with the build log\n%s", code, out)
		}
		time.Sleep(2 * time.Second)
		if a := c.app("pushy"); a.Release != 2 || a.Status != "running" {
			t.Fatalf("after the broken push: release %d %s, want 2 running", a.Release, a.Status)
		}
		if _, body := get(t, a.Address); !strings.Contains(body, "pushed two") {
			t.Fatalf("the old release stopped serving after a broken push: %q", body)
		}
		// Bob may not push to ann's app.
		bobSSH := "GIT_SSH_COMMAND=ssh " + strings.Join(sshOpts(bob.key), " ")
		if _, _, code := run(t, "", []string{bobSSH, "GIT_CONFIG_GLOBAL=/dev/null"}, "git", "-C", repo.dir, "push", "ssh://git@"+local+"/pushy.git", "HEAD~1:main"); code == 0 {
			t.Error("bob pushed to ann's app")
		}
	})

	t.Run("gasper app exec and shell: the owner gets in, others do not", func(t *testing.T) {
		out, errOut, code := c.gasperAs(ann.config, "", "app", "exec", "web", "--", "sh", "-c", "cat /tmp/only-here; echo err >&2; exit 3")
		if code != 3 || out != secret+"\n" || errOut != "err\n" {
			t.Errorf("exec: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if out, _, code := c.gasperAs(ann.config, "piped in\n", "app", "exec", "web", "--", "cat"); code != 0 || out != "piped in\n" {
			t.Errorf("exec with stdin: exit %d %q", code, out)
		}
		if _, errOut, code := c.gasperAs(bob.config, "", "app", "exec", "web", "--", "cat", "/tmp/only-here"); code != 5 || strings.Contains(errOut, secret) {
			t.Errorf("bob's exec: exit %d %q, want 5 (not found)", code, errOut)
		}
		tm := terminal(t, "env TERM=xterm GASPER_CONFIG_DIR="+ann.config+" "+filepath.Join(bin, "gasper")+" app shell web")
		tm.waitScreen(30*time.Second, "@web:")
		tm.keys("stty size", "Enter")
		tm.waitScreen(30*time.Second, "24 80")
		sttyResize(tm, 120, 40)
		tm.keys("cat /tmp/only-here; exit 4", "Enter")
		tm.waitScreen(30*time.Second, "EXITED=4", secret)
		tm = terminal(t, "env TERM=xterm GASPER_CONFIG_DIR="+bob.config+" "+filepath.Join(bin, "gasper")+" app shell web")
		if screen := tm.waitScreen(30*time.Second, "EXITED=5"); strings.Contains(screen, secret) {
			t.Error("bob's shell showed ann's file")
		}
	})

	t.Run("sessions are audit-logged", func(t *testing.T) {
		var tok struct {
			Token string `json:"token"`
		}
		json.Unmarshal([]byte(c.ok("", "token", "create", "audit", "--json")), &tok)
		req, _ := http.NewRequest("GET", "http://"+c.api+"/api/v1/audit?limit=1000", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var events []struct{ Actor, Action, Target, Detail string }
		json.NewDecoder(resp.Body).Decode(&events)
		count := map[string]int{}
		for _, e := range events {
			if e.Actor == ann.email {
				count[e.Action+" "+e.Target]++
			}
			if e.Action == "ssh.session.end" && !strings.Contains(e.Detail, "after") {
				t.Errorf("a session end without its duration: %+v", e)
			}
		}
		for _, want := range []string{"ssh.session web", "ssh.session.end web", "ssh.session pushy", "ssh.session.end pushy", "app.exec web", "app.exec.end web", "ssh-key.add", "app.ssh web"} {
			found := false
			for k, n := range count {
				found = found || (strings.HasPrefix(k, want) && n > 0)
			}
			if !found {
				t.Errorf("no audit event %q for ann; got %v", want, count)
			}
		}
	})
}
