// Command deploy measures how long a deploy takes: for a few runtimes it
// times `gasper app create --from examples/<runtime>` from the command's
// start to the app's first HTTP 200, and compares it with the floor measured
// in the same run: the same release image, with the same start command and
// a published port, started with containerd directly (internal/container:
// Create, Start, first 200). It also splits the deploy into its steps, from
// the times the build log's lines reach the CLI.
//
// It builds nothing itself: it runs bin/gasper, bin/gasper-master and
// bin/gasper-agent (`make build`), a master and one agent on loopback in a
// temporary directory, with their own containerd namespace, bridge and
// subnet, all removed at the end. It needs a running containerd (as root).
//
//	make build && go run ./bench/deploy -runs 5 -runtimes static,php,python3
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gasper/api"
	"gasper/api/client"
	"gasper/internal/container"
)

const (
	adminEmail     = "admin@gasper.local"
	adminPassword  = "bench-deploy-admin-password"
	containerdSock = "/run/containerd/containerd.sock"
	pollEvery      = 20 * time.Millisecond
	deployTimeout  = 5 * time.Minute
	advertise      = "127.0.0.9"
	labelApp       = "gasper.app" // the label the agent puts on an app's containers
	labelBuild     = "gasper.build"
	floorIDPrefix  = "floor-"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/deploy:", err)
		os.Exit(1)
	}
}

type options struct {
	bin      string
	examples string
	runtimes []string
	runs     int
	verbose  bool
}

func run() error {
	var o options
	var rts string
	flag.StringVar(&o.bin, "bin", "bin", "directory holding gasper, gasper-master and gasper-agent (make build)")
	flag.StringVar(&o.examples, "examples", "examples", "directory holding one example app per runtime")
	flag.StringVar(&rts, "runtimes", "static,php,python3", "comma-separated runtimes to deploy")
	flag.IntVar(&o.runs, "runs", 5, "deploys per runtime (the median is reported)")
	flag.BoolVar(&o.verbose, "v", false, "print every run and the CLI's build log lines with their times")
	flag.Parse()
	o.runtimes = strings.Split(rts, ",")
	if o.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	for _, b := range []string{"gasper", "gasper-master", "gasper-agent"} {
		if _, err := os.Stat(filepath.Join(o.bin, b)); err != nil {
			return fmt.Errorf("%s is missing: run make build first (%w)", filepath.Join(o.bin, b), err)
		}
	}
	for _, rt := range o.runtimes {
		if _, err := os.Stat(filepath.Join(o.examples, rt)); err != nil {
			return fmt.Errorf("no example app for runtime %s: %w", rt, err)
		}
	}
	if _, err := os.Stat(containerdSock); err != nil {
		// bench.sh runs every program under bench/; without containerd there
		// is nothing this one can measure.
		fmt.Printf("bench/deploy: skipped: containerd is not running at %s (make up starts it, as root)\n", containerdSock)
		return nil
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	if o.examples, err = filepath.Abs(o.examples); err != nil {
		return err
	}

	ctx := context.Background()
	cl, err := startCloud(ctx, o)
	if err != nil {
		if cl != nil {
			cl.close()
		}
		return err
	}
	defer cl.close()

	var results []runtimeResult
	for _, rt := range o.runtimes {
		r, err := cl.measureRuntime(ctx, rt)
		if err != nil {
			return fmt.Errorf("runtime %s: %w", rt, err)
		}
		results = append(results, r)
	}
	report(os.Stdout, o, results)
	return nil
}

// --- the cloud: one master, one agent ---

type cloud struct {
	o         options
	dir       string
	apiAddr   string
	tunnel    string
	cliConfig string
	master    *proc
	agent     *proc
	api       *client.Client
	ns        string
	bridge    string
	subnet    string
	agentDir  string
	floor     *container.Driver
	apps      map[string]bool // apps created and not yet deleted
}

// proc is a started binary whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(logPath string, env []string, name string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// stop ends the process with SIGTERM, then SIGKILL after 10s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func startCloud(ctx context.Context, o options) (*cloud, error) {
	dir, err := os.MkdirTemp("", "gasper-bench-deploy-")
	if err != nil {
		return nil, err
	}
	pid := os.Getpid()
	c := &cloud{o: o, dir: dir, apiAddr: freeAddr(), tunnel: freeAddr(), cliConfig: filepath.Join(dir, "cli"),
		ns: fmt.Sprintf("gasper-bench-deploy-%d", pid), bridge: fmt.Sprintf("gbd%d", pid%1000000),
		subnet: fmt.Sprintf("10.213.%d.0/24", pid%250), agentDir: filepath.Join(dir, "agent"), apps: map[string]bool{}}

	c.master, err = startProc(filepath.Join(dir, "master.log"), []string{"GASPER_ADMIN_PASSWORD=" + adminPassword},
		filepath.Join(o.bin, "gasper-master"), "--data-dir", filepath.Join(dir, "master"), "--listen", c.apiAddr,
		"--tunnel-listen", c.tunnel, "--tunnel-advertise", c.tunnel, "--log-format", "text")
	if err != nil {
		return c, err
	}
	if err := waitUntil(30*time.Second, "the master's health endpoint", func() bool {
		resp, err := http.Get("http://" + c.apiAddr + "/api/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}); err != nil {
		return c, fmt.Errorf("%w\nmaster log:\n%s", err, c.master.tail(20))
	}
	if _, err := c.gasper(adminPassword, "login", "--master", "http://"+c.apiAddr, "--email", adminEmail, "--password-stdin"); err != nil {
		return c, err
	}
	s, err := client.New("http://"+c.apiAddr).Login(ctx, adminEmail, adminPassword)
	if err != nil {
		return c, fmt.Errorf("log in to the API: %w", err)
	}
	c.api = client.New("http://"+c.apiAddr, client.WithToken(s.AccessToken))
	jt, err := c.api.CreateJoinToken(ctx, api.CreateJoinTokenRequest{TTL: "1h"})
	if err != nil {
		return c, fmt.Errorf("make a join token: %w", err)
	}
	c.agent, err = startProc(filepath.Join(dir, "agent.log"), nil, filepath.Join(o.bin, "gasper-agent"),
		"join", c.tunnel, "--token", jt.Token, "--roles", "app", "--advertise", advertise, "--name", "bench-node",
		"--state-dir", c.agentDir, "--containerd-namespace", c.ns, "--bridge", c.bridge, "--subnet", c.subnet,
		"--log-format", "text")
	if err != nil {
		return c, err
	}
	if err := waitUntil(60*time.Second, "the agent to be ready", func() bool {
		ns, err := c.api.Nodes(ctx)
		return err == nil && len(ns) == 1 && ns[0].Connected && ns[0].State == api.NodeReady
	}); err != nil {
		return c, fmt.Errorf("%w\nagent log:\n%s", err, c.agent.tail(20))
	}
	// The floor runs in the agent's own namespace and network (same state
	// directory, so the IP allocations are shared), with container ids the
	// agent does not manage: it only touches containers labelled with an app.
	c.floor, err = container.New(ctx, container.Config{Socket: containerdSock, Namespace: c.ns,
		StateDir: filepath.Join(c.agentDir, "containers"), Bridge: c.bridge, Subnet: c.subnet, HostIP: advertise,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return c, fmt.Errorf("open the floor's container driver: %w", err)
	}
	return c, nil
}

// close deletes the apps through the CLI, stops the agent and the master,
// and removes the namespace (after its images) and the bridge.
func (c *cloud) close() {
	ctx := context.Background()
	for app := range c.apps {
		c.deleteApp(ctx, app)
	}
	if c.floor != nil {
		// Floor containers are removed after each run; this catches an
		// interrupted one.
		cs, _ := c.floor.List(ctx, nil)
		for _, s := range cs {
			if strings.HasPrefix(s.ID, floorIDPrefix) {
				c.floor.Remove(ctx, s.ID)
			}
		}
		c.floor.Close()
	}
	c.agent.stop()
	c.master.stop()
	if out, err := exec.Command("ctr", "-n", c.ns, "images", "ls", "-q").Output(); err == nil {
		for _, img := range strings.Fields(string(out)) {
			if out, err := exec.Command("ctr", "-n", c.ns, "images", "rm", "--sync", img).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "bench/deploy: cleanup: remove image %s: %v %s\n", img, err, out)
			}
		}
	}
	// Content and snapshots go with the images' garbage collection, which
	// may lag a moment behind.
	err := waitUntil(30*time.Second, "namespace "+c.ns+" to be removable", func() bool {
		return exec.Command("ctr", "namespaces", "rm", c.ns).Run() == nil
	})
	if err != nil {
		out, _ := exec.Command("ctr", "namespaces", "rm", c.ns).CombinedOutput()
		fmt.Fprintf(os.Stderr, "bench/deploy: cleanup: %v: %s\n", err, out)
	}
	if out, err := exec.Command("ip", "link", "del", c.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
		fmt.Fprintf(os.Stderr, "bench/deploy: cleanup: ip link del %s: %v %s\n", c.bridge, err, out)
	}
	os.RemoveAll(c.dir)
}

// gasper runs the CLI and returns its standard output.
func (c *cloud) gasper(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.o.bin, "gasper"), args...)
	cmd.Env = append(cleanEnv(), "GASPER_CONFIG_DIR="+c.cliConfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("gasper %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// deleteApp deletes an app with the CLI and waits until its containers are
// gone, so the next run starts on a quiet node.
func (c *cloud) deleteApp(ctx context.Context, app string) error {
	if _, err := c.gasper("", "app", "delete", app, "--yes"); err != nil {
		return err
	}
	delete(c.apps, app)
	if c.floor == nil {
		return nil
	}
	return waitUntil(60*time.Second, "the containers of "+app+" to go", func() bool {
		cs, err := c.floor.List(ctx, map[string]string{labelApp: app})
		return err == nil && len(cs) == 0
	})
}

// --- measuring ---

// step is one line of the CLI's standard error and when it arrived.
type step struct {
	at   time.Duration
	line string
}

// deployRun is one timed `gasper app create`.
type deployRun struct {
	first200 time.Duration // command start -> first HTTP 200 at the app's address
	// containerServes is command start -> the app's container answers 200 at
	// its published port, found through containerd rather than the API.
	containerServes time.Duration
	addrKnown       time.Duration // command start -> the API shows the address
	cliExit         time.Duration // command start -> the CLI exited, having printed the address
	phases          map[string]time.Duration
	steps           []step
}

// floorRun is one start of the release image with containerd directly.
type floorRun struct {
	create, start, first200 time.Duration // each from the Create call
}

type runtimeResult struct {
	runtime string
	deploys []deployRun
	floors  []floorRun
}

// phases names the deploy's phases in order (see splitPhases).
var phases = []string{"pack+upload", "fetch source", "runtime image", "build command", "release image", "container up", "address"}

func (c *cloud) measureRuntime(ctx context.Context, rt string) (runtimeResult, error) {
	res := runtimeResult{runtime: rt}
	src := filepath.Join(c.o.examples, rt)
	for i := range c.o.runs {
		app := fmt.Sprintf("bench-%s-%d", rt, i+1)
		d, err := c.timeDeploy(ctx, app, src)
		if err != nil {
			return res, err
		}
		f, err := c.timeFloor(ctx, app, fmt.Sprintf("%s%s-%d", floorIDPrefix, rt, i+1))
		if err != nil {
			return res, err
		}
		if c.o.verbose {
			fmt.Fprintf(os.Stderr, "%s run %d: first 200 after %s (container served %s, address known %s, CLI exit %s); floor %s (create %s, start %s)\n",
				rt, i+1, ms(d.first200), ms(d.containerServes), ms(d.addrKnown), ms(d.cliExit), ms(f.first200), ms(f.create), ms(f.start))
			for _, s := range d.steps {
				fmt.Fprintf(os.Stderr, "    %8s  %s\n", ms(s.at), s.line)
			}
		}
		res.deploys = append(res.deploys, d)
		res.floors = append(res.floors, f)
		if err := c.deleteApp(ctx, app); err != nil {
			return res, err
		}
	}
	return res, nil
}

// timeDeploy runs `gasper app create app --from src` and times it until the
// first HTTP 200 at the app's address, polling the API for the address
// while the command runs.
func (c *cloud) timeDeploy(ctx context.Context, app, src string) (deployRun, error) {
	var r deployRun
	ctx, cancel := context.WithTimeout(ctx, deployTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.o.bin, "gasper"), "app", "create", app, "--from", src,
		"--wait-timeout", deployTimeout.String())
	cmd.Env = append(cleanEnv(), "GASPER_CONFIG_DIR="+c.cliConfig)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start gasper app create: %w", err)
	}
	c.apps[app] = true
	var mu sync.Mutex
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			r.steps = append(r.steps, step{at: time.Since(start), line: sc.Text()})
			mu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() {
		<-lines // Wait closes the pipe: read it all first
		err := cmd.Wait()
		r.cliExit = time.Since(start)
		exited <- err
	}()

	addr := ""
	hc := &http.Client{Timeout: 2 * time.Second}
	var cliErr error
	cliDone := false
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for r.first200 == 0 {
		select {
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			return r, fmt.Errorf("deploy of %s: no HTTP 200 after %s (address %q)\n%s\nagent log:\n%s",
				app, deployTimeout, addr, stepsText(r.steps), c.agent.tail(15))
		case cliErr = <-exited:
			cliDone = true
			if cliErr != nil {
				mu.Lock()
				defer mu.Unlock()
				return r, fmt.Errorf("gasper app create %s: %w\n%s", app, cliErr, stepsText(r.steps))
			}
			exited = nil
		case <-tick.C:
		}
		if r.containerServes == 0 && built(&mu, &r.steps) {
			if ok, _ := c.instanceServes(ctx, app, hc); ok {
				r.containerServes = time.Since(start)
			}
		}
		if addr == "" {
			if a, err := c.api.App(ctx, app); err == nil && a.Address != "" {
				addr = a.Address
				r.addrKnown = time.Since(start)
			}
			continue
		}
		resp, err := hc.Get("http://" + addr + "/")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			r.first200 = time.Since(start)
		}
	}
	if !cliDone {
		if err := <-exited; err != nil {
			return r, fmt.Errorf("gasper app create %s: %w\n%s", app, err, stepsText(r.steps))
		}
	}
	if printed := strings.TrimSpace(stdout.String()); printed != "http://"+addr {
		return r, fmt.Errorf("gasper app create %s printed %q, but the API gives the address %s", app, printed, addr)
	}
	r.phases = splitPhases(r.steps, r.containerServes, r.first200)
	return r, nil
}

// built reports whether the build log has said the build succeeded.
func built(mu *sync.Mutex, steps *[]step) bool {
	mu.Lock()
	defer mu.Unlock()
	for i := len(*steps) - 1; i >= 0; i-- {
		if strings.HasPrefix((*steps)[i].line, "==> build succeeded") {
			return true
		}
	}
	return false
}

// instanceServes reports whether a running container of app answers 200 at
// its published port.
func (c *cloud) instanceServes(ctx context.Context, app string, hc *http.Client) (bool, error) {
	cs, err := c.floor.List(ctx, map[string]string{labelApp: app})
	if err != nil {
		return false, err
	}
	for _, s := range cs {
		if s.Labels[labelBuild] != "" || s.State != container.StateRunning || len(s.Ports) == 0 || s.Ports[0].HostPort == 0 {
			continue
		}
		resp, err := hc.Get("http://" + net.JoinHostPort(advertise, strconv.Itoa(s.Ports[0].HostPort)) + "/")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return true, nil
		}
	}
	return false, nil
}

// splitPhases turns the arrival times of the build log's step lines into
// the durations of the deploy's phases.
func splitPhases(steps []step, serves, first200 time.Duration) map[string]time.Duration {
	at := func(prefix string) (time.Duration, bool) {
		for _, s := range steps {
			if strings.HasPrefix(s.line, prefix) {
				return s.at, true
			}
		}
		return 0, false
	}
	out := map[string]time.Duration{}
	fetch, ok1 := at("==> fetching source")
	runtime, ok2 := at("==> runtime ")
	packing, ok3 := at("==> packing release image")
	built, ok4 := at("==> build succeeded")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return out
	}
	// The runtime image step ends when the build command starts, or, for a
	// runtime without one, when packing starts.
	buildStart, hasBuild := at("==> running build")
	imageEnd := packing
	if hasBuild {
		imageEnd = buildStart
	}
	out["pack+upload"] = fetch
	out["fetch source"] = runtime - fetch
	out["runtime image"] = imageEnd - runtime
	out["build command"] = packing - imageEnd
	out["release image"] = built - packing
	if serves == 0 || serves > first200 { // it served before the next poll of containerd
		serves = first200
	}
	out["container up"] = serves - built
	out["address"] = first200 - serves
	return out
}

func stepsText(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "    %8s  %s\n", ms(s.at), s.line)
	}
	return b.String()
}

// timeFloor starts the release image the app runs, with the app's own
// start command, environment, limits and port, as a container the agent
// does not manage, and times Create -> first HTTP 200; then removes it.
func (c *cloud) timeFloor(ctx context.Context, app, id string) (floorRun, error) {
	var f floorRun
	cs, err := c.floor.List(ctx, map[string]string{labelApp: app})
	if err != nil {
		return f, fmt.Errorf("list the containers of %s: %w", app, err)
	}
	var inst *container.Status
	for i := range cs {
		if cs[i].Labels[labelBuild] == "" && cs[i].State == container.StateRunning {
			inst = &cs[i]
		}
	}
	if inst == nil || len(inst.Ports) == 0 {
		return f, fmt.Errorf("app %s has no running container with a port to copy (%d containers)", app, len(cs))
	}
	ctr, err := c.floor.Client().LoadContainer(ctx, inst.ID)
	if err != nil {
		return f, fmt.Errorf("load container %s: %w", inst.ID, err)
	}
	oci, err := ctr.Spec(ctx)
	if err != nil {
		return f, fmt.Errorf("read the spec of %s: %w", inst.ID, err)
	}
	args := oci.Process.Args
	init := len(args) > 3 && args[0] == "/.gasper-init" // the app runs behind the init: so does the floor
	if init {
		args = args[3:]
	}
	spec := container.Spec{ID: id, Image: inst.Image, Args: args, Env: oci.Process.Env, WorkDir: oci.Process.Cwd, Init: init,
		Ports: []container.Port{{ContainerPort: inst.Ports[0].ContainerPort, Protocol: "tcp"}}}
	if oci.Linux != nil && oci.Linux.Resources != nil {
		res := oci.Linux.Resources
		if res.Memory != nil && res.Memory.Limit != nil {
			spec.MemoryBytes = *res.Memory.Limit
		}
		if res.CPU != nil && res.CPU.Quota != nil && res.CPU.Period != nil && *res.CPU.Period > 0 {
			spec.CPUs = float64(*res.CPU.Quota) / float64(*res.CPU.Period)
		}
	}

	defer c.floor.Remove(context.WithoutCancel(ctx), id)
	start := time.Now()
	if err := c.floor.Create(ctx, spec); err != nil {
		return f, fmt.Errorf("floor: create %s from %s: %w", id, inst.Image, err)
	}
	f.create = time.Since(start)
	st, err := c.floor.Start(ctx, id)
	if err != nil {
		return f, fmt.Errorf("floor: start %s: %w", id, err)
	}
	f.start = time.Since(start)
	if len(st.Ports) == 0 || st.Ports[0].HostPort == 0 {
		return f, fmt.Errorf("floor: %s runs without a published port", id)
	}
	url := "http://" + net.JoinHostPort(advertise, strconv.Itoa(st.Ports[0].HostPort)) + "/"
	hc := &http.Client{Timeout: 2 * time.Second}
	err = waitUntil(2*time.Minute, "the floor container "+id+" to answer 200", func() bool {
		resp, err := hc.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return f, err
	}
	f.first200 = time.Since(start)
	return f, nil
}

// --- reporting ---

func report(w io.Writer, o options, results []runtimeResult) {
	fmt.Fprintf(w, "\nDeploy of examples/<runtime>: `gasper app create --from` to first HTTP 200, median of %d runs\n", o.runs)
	fmt.Fprintf(w, "(floor: the same release image started with containerd directly: Create + Start + first 200)\n\n")
	fmt.Fprintf(w, "%-9s %12s %12s %8s   %12s %12s %12s\n", "runtime", "gasper", "floor", "ratio", "address", "CLI exit", "first run")
	for _, r := range results {
		g := median(durations(r.deploys, func(d deployRun) time.Duration { return d.first200 }))
		f := median(floorDurations(r.floors, func(f floorRun) time.Duration { return f.first200 }))
		fmt.Fprintf(w, "%-9s %12s %12s %7.1fx   %12s %12s %12s\n", r.runtime, ms(g), ms(f), ratio(g, f),
			ms(median(durations(r.deploys, func(d deployRun) time.Duration { return d.addrKnown }))),
			ms(median(durations(r.deploys, func(d deployRun) time.Duration { return d.cliExit }))),
			ms(r.deploys[0].first200))
	}

	fmt.Fprintf(w, "\nWhere the time goes (medians; from the times the build log's step lines reach the CLI):\n\n")
	fmt.Fprintf(w, "%-9s", "runtime")
	for _, p := range phases {
		fmt.Fprintf(w, " %13s", p)
	}
	fmt.Fprintf(w, "   %12s %12s %12s\n", "floor create", "floor start", "floor 200")
	for _, r := range results {
		fmt.Fprintf(w, "%-9s", r.runtime)
		for _, p := range phases {
			fmt.Fprintf(w, " %13s", ms(median(durations(r.deploys, func(d deployRun) time.Duration { return d.phases[p] }))))
		}
		fmt.Fprintf(w, "   %12s %12s %12s\n",
			ms(median(floorDurations(r.floors, func(f floorRun) time.Duration { return f.create }))),
			ms(median(floorDurations(r.floors, func(f floorRun) time.Duration { return f.start }))),
			ms(median(floorDurations(r.floors, func(f floorRun) time.Duration { return f.first200 }))))
	}
	fmt.Fprintln(w, `
pack+upload: the CLI packs and uploads the source, the master asks the agent to build, until the
agent's first build log line; fetch source: the agent downloads and unpacks the source; runtime
image: the runtime's image made ready in the node's namespace (imported from the image cache on the
node's first deploy of a runtime, "cached" after); build command: the runtime's build command in a
build container; release image: the release layer packed from /app, written into containerd's
content store beside the base image's layers, and unpacked; container up: from the build's end
until the app's container answers 200 at its port (the master marks the release ready and sends the
desired state; the agent creates and starts the container: snapshot, CNI, task; the app starts);
address: until the API shows the address (the agent reports its instances once a second) and the
first 200 there. "address" in the first table is when the API first showed it.`)
}

func durations(ds []deployRun, f func(deployRun) time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(ds))
	for _, d := range ds {
		out = append(out, f(d))
	}
	return out
}

func floorDurations(fs []floorRun, f func(floorRun) time.Duration) []time.Duration {
	out := make([]time.Duration, 0, len(fs))
	for _, x := range fs {
		out = append(out, f(x))
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// --- small things ---

// waitUntil polls cond every pollEvery until it holds or within passes.
func waitUntil(within time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// cleanEnv is the environment without the developer's own GASPER_*
// settings.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GASPER_") {
			out = append(out, kv)
		}
	}
	return out
}
