// Command ssh measures how long `ssh -p PORT APP@NODE true` takes from the
// client's start to its exit (the median of -runs), for a container on the
// ssh role's own node and for one on another node (relayed through the
// master), beside the floor measured in the same run: `ctr task exec` of the
// same command in the same container. `gasper app exec APP -- true`
// (through the master's API) is measured too.
//
// It runs bin/gasper, bin/gasper-master and bin/gasper-agent (`make build`):
// a master and two agents on loopback in a temporary directory (node1: app
// and ssh roles; node2: ssh only), with their own containerd namespaces,
// bridge and subnet, all removed at the end. It needs a running containerd
// and the OpenSSH client (as root).
//
//	make build && go run ./bench/ssh -runs 20
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

const (
	adminEmail     = "admin@gasper.local"
	adminPassword  = "bench-ssh-admin-password"
	containerdSock = "/run/containerd/containerd.sock"
	appNode        = "127.0.0.9"  // app + ssh roles
	sshNode        = "127.0.0.10" // ssh role only
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/ssh:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin", "directory holding gasper, gasper-master and gasper-agent (make build)")
	examples := flag.String("examples", "examples", "directory of the example apps (static is deployed)")
	runs := flag.Int("runs", 20, "runs of each command (the median is reported)")
	flag.Parse()
	if *runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	if _, err := os.Stat(containerdSock); err != nil {
		fmt.Printf("bench/ssh: skipped: containerd is not running at %s (make up starts it, as root)\n", containerdSock)
		return nil
	}
	for _, tool := range []string{"ssh", "ssh-keygen", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (apt-get install openssh-client containerd)", tool)
		}
	}
	var err error
	if *bin, err = filepath.Abs(*bin); err != nil {
		return err
	}
	c, err := start(*bin)
	defer c.close()
	if err != nil {
		return err
	}
	src, _ := filepath.Abs(filepath.Join(*examples, "static"))
	if _, err := c.gasper("", "app", "create", "bench", "--from", src, "--wait-timeout", "3m"); err != nil {
		return err
	}
	key := filepath.Join(c.dir, "id_bench")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		return fmt.Errorf("ssh-keygen: %v %s", err, out)
	}
	if _, err := c.gasper("", "ssh-key", "add", key+".pub"); err != nil {
		return err
	}
	var info struct {
		Instances []struct {
			ID string `json:"id"`
		} `json:"instances"`
	}
	out, err := c.gasper("", "app", "info", "bench", "--json")
	if err != nil {
		return err
	}
	if json.Unmarshal([]byte(out), &info); len(info.Instances) != 1 {
		return fmt.Errorf("app info: want one instance: %s", out)
	}
	id := info.Instances[0].ID

	sshCmd := func(addr string) []string {
		host, port, _ := net.SplitHostPort(addr)
		return []string{"ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", key, "-p", port, "bench@" + host, "true"}
	}
	n := 0
	cases := []struct {
		name string
		argv func() []string
	}{
		{"ctr task exec (floor)", func() []string {
			n++
			return []string{"ctr", "-n", c.ns, "task", "exec", "--exec-id", fmt.Sprintf("bench-%d", n), id, "true"}
		}},
		{"ssh, container on the ssh node", func() []string { return sshCmd(c.ssh1) }},
		{"ssh, container on another node", func() []string { return sshCmd(c.ssh2) }},
		{"gasper app exec (API)", func() []string {
			return []string{filepath.Join(c.bin, "gasper"), "app", "exec", "bench", "--", "true"}
		}},
	}
	medians := make([]time.Duration, len(cases))
	for i, cs := range cases {
		if err := c.time(cs.argv()); err != nil { // warm up, and check it works
			return fmt.Errorf("%s: %w", cs.name, err)
		}
		var ds []time.Duration
		for range *runs {
			t0 := time.Now()
			if err := c.time(cs.argv()); err != nil {
				return fmt.Errorf("%s: %w", cs.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
		medians[i] = ds[len(ds)/2]
	}
	fmt.Printf("bench/ssh: time from start to exit of `true` in an app's container, median of %d runs\n", *runs)
	for i, cs := range cases {
		fmt.Printf("  %-34s %8.1f ms  %5.2fx the floor\n", cs.name, float64(medians[i].Microseconds())/1000, float64(medians[i])/float64(medians[0]))
	}
	return nil
}

type cloud struct {
	bin, dir, api, tunnel, bridge, ssh1, ssh2 string
	// ns is node1's containerd namespace (where the app runs), nsSSH node2's.
	ns, nsSSH string
	procs     []*exec.Cmd
}

func start(bin string) (*cloud, error) {
	dir, err := os.MkdirTemp("", "gasper-bench-ssh-")
	if err != nil {
		return &cloud{}, err
	}
	pid := os.Getpid()
	c := &cloud{bin: bin, dir: dir, api: freeAddr("127.0.0.1"), tunnel: freeAddr("127.0.0.1"),
		ns: fmt.Sprintf("gasper-bench-ssh-%d-1", pid), nsSSH: fmt.Sprintf("gasper-bench-ssh-%d-2", pid), bridge: fmt.Sprintf("gbs%d", pid%1000000),
		ssh1: freeAddr(appNode), ssh2: freeAddr(sshNode)}
	if err := c.startProc("master", []string{"GASPER_ADMIN_PASSWORD=" + adminPassword}, "gasper-master",
		"--data-dir", filepath.Join(dir, "master"), "--listen", c.api, "--tunnel-listen", c.tunnel,
		"--tunnel-advertise", c.tunnel, "--log-format", "text"); err != nil {
		return c, err
	}
	if err := waitUntil(30*time.Second, "the master", func() bool {
		resp, err := http.Get("http://" + c.api + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}); err != nil {
		return c, err
	}
	if _, err := c.gasper(adminPassword, "login", "--master", "http://"+c.api, "--email", adminEmail, "--password-stdin"); err != nil {
		return c, err
	}
	tok, err := c.gasper("", "node", "token")
	if err != nil {
		return c, err
	}
	for _, n := range []struct{ name, addr, roles, ssh, ns string }{{"node1", appNode, "app,ssh", c.ssh1, c.ns}, {"node2", sshNode, "ssh", c.ssh2, c.nsSSH}} {
		if err := c.startProc(n.name, nil, "gasper-agent", "join", c.tunnel, "--token", strings.TrimSpace(tok),
			"--roles", n.roles, "--advertise", n.addr, "--name", n.name, "--state-dir", filepath.Join(dir, n.name),
			"--containerd-namespace", n.ns, "--bridge", c.bridge, "--subnet", fmt.Sprintf("10.212.%d.0/24", pid%250),
			"--ssh-addr", n.ssh, "--log-format", "text"); err != nil {
			return c, err
		}
	}
	return c, waitUntil(60*time.Second, "two ready nodes", func() bool {
		out, err := c.gasper("", "node", "list", "--json")
		return err == nil && strings.Count(out, `"state": "ready"`) == 2
	})
}

func (c *cloud) startProc(name string, env []string, binary string, args ...string) error {
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, binary), args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// close deletes the app, stops the processes it started (by pid) and
// removes what the nodes left: namespaces, bridge, directory.
func (c *cloud) close() {
	if c.dir == "" {
		return
	}
	if c.api != "" {
		c.gasper("", "app", "delete", "bench", "--yes")
		waitUntil(60*time.Second, "the app's containers to go", func() bool {
			out, _ := exec.Command("ctr", "-n", c.ns, "containers", "ls", "-q").Output()
			return len(bytes.TrimSpace(out)) == 0
		})
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	for _, ns := range []string{c.ns, c.nsSSH} {
		if out, err := exec.Command("ctr", "-n", ns, "images", "ls", "-q").Output(); err == nil {
			for _, img := range strings.Fields(string(out)) {
				exec.Command("ctr", "-n", ns, "images", "rm", "--sync", img).Run()
			}
		}
		waitUntil(30*time.Second, "namespace "+ns+" to go", func() bool {
			out, _ := exec.Command("ctr", "namespaces", "rm", ns).CombinedOutput()
			return !strings.Contains(string(out), "namespace") || strings.Contains(string(out), "not found")
		})
	}
	exec.Command("ip", "link", "del", c.bridge).Run()
	os.RemoveAll(c.dir)
}

// time runs argv, failing when it does.
func (c *cloud) time(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), "GASPER_CONFIG_DIR="+filepath.Join(c.dir, "cli"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v %s", strings.Join(argv, " "), err, out)
	}
	return nil
}

func (c *cloud) gasper(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "gasper"), args...)
	cmd.Env = append(cleanEnv(), "GASPER_CONFIG_DIR="+filepath.Join(c.dir, "cli"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("gasper %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

func freeAddr(host string) string {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitUntil(within time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GASPER_") {
			out = append(out, kv)
		}
	}
	return out
}
