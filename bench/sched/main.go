// Command sched measures the master's scheduler: N in-process agents on the
// real tunnel protocol join a real gasper-master and are cordoned; M apps are
// created and deployed through the REST API and wait, pending; then every
// node is uncordoned and the scheduler places them all. The agents answer
// builds at once (their images live in memory) and record when each app first
// appears in a node's desired set: that is its placement. It reports
// placements per second against the API's own rate for the same apps (the
// floor, same run), an end-to-end rate for apps created while nodes take
// them, and the master's CPU and RSS.
//
//	make build && go run ./bench/sched -agents 100 -apps 5000
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gasper/agent/tunnel"
	"gasper/api"
	"gasper/api/client"
	"gasper/bench/masterproc"
	"gasper/proto"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/sched:", err)
		os.Exit(1)
	}
}

type options struct {
	masterBin     string
	agents, apps  int
	workers, more int
	within        time.Duration
	profile       string
}

func run() error {
	var o options
	flag.StringVar(&o.masterBin, "master-bin", "bin/gasper-master", "gasper-master binary")
	flag.IntVar(&o.agents, "agents", 100, "in-process agents with the app role")
	flag.IntVar(&o.apps, "apps", 5000, "apps created and deployed through the API")
	flag.IntVar(&o.workers, "workers", 16, "concurrent API clients")
	flag.IntVar(&o.more, "more", 500, "apps created after, while every node takes them (end to end)")
	flag.DurationVar(&o.within, "within", 10*time.Minute, "deadline for every app to be placed")
	flag.StringVar(&o.profile, "profile", "", "write the master's CPU profile while it places to this file")
	flag.Parse()

	dir, err := os.MkdirTemp("", "gasper-bench-sched-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m := masterproc.New(o.masterBin, dir, time.Second)
	debug := masterproc.FreeAddr()
	if o.profile != "" {
		m.Args = append(m.Args, "--debug-listen", debug)
	}
	if err := m.Start(); err != nil {
		return err
	}
	defer m.Stop()
	ctx := context.Background()
	c, err := m.Admin(ctx)
	if err != nil {
		return err
	}
	idleRSS := masterproc.RSS(m.Pid())
	src, err := sourceArchive()
	if err != nil {
		return err
	}

	// The agents join, and are cordoned: apps created now wait, pending.
	jt, err := c.CreateJoinToken(ctx, api.CreateJoinTokenRequest{TTL: "1h"})
	if err != nil {
		return err
	}
	f := &fleet{placed: map[string]time.Time{}, perNode: map[string]int{}}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range o.agents {
		host := fmt.Sprintf("sched-%03d", i)
		cl, err := tunnel.NewClient(tunnel.Config{
			Master: m.Tunnel, JoinToken: jt.Token, StateDir: filepath.Join(dir, "agents", host),
			Facts: func() proto.Facts {
				return proto.Facts{Hostname: host, Advertise: "127.0.0.1", Roles: []string{proto.RoleApp},
					CPUs: 64, MemoryBytes: 256 << 30, DiskBytes: 1 << 40}
			},
			Handler: f.agent(host),
			Logger:  quiet,
		})
		if err != nil {
			return err
		}
		go cl.Run(runCtx)
	}
	if err := masterproc.WaitConnected(ctx, c, o.agents, 2*time.Minute); err != nil {
		return err
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return err
	}
	if err := cordonAll(ctx, c, nodes, true); err != nil {
		return err
	}

	// 1. The API: create and deploy every app while nothing can take them.
	appNames := names("app", o.apps)
	apiTook, err := createAll(ctx, c, appNames, src, o.workers)
	if err != nil {
		return err
	}
	if err := waitPending(ctx, c, o.apps, time.Minute); err != nil {
		return err
	}
	pendingRSS := masterproc.RSS(m.Pid())

	// 2. The scheduler: uncordon every node and time until each app is in
	// a node's desired set (its build included).
	cpu0 := masterproc.CPUTicks(m.Pid())
	start := time.Now()
	f.mu.Lock()
	f.start = start
	f.mu.Unlock()
	profiled := make(chan error, 1)
	if o.profile != "" {
		go func() { profiled <- saveProfile(debug, o.profile, 20*time.Second) }()
	}
	if err := cordonAll(ctx, c, nodes, false); err != nil {
		return err
	}
	uncordoned := time.Since(start)
	last, err := f.waitPlaced(appNames, o.within)
	if err != nil {
		return err
	}
	took := last.Sub(start)
	cpu := float64(masterproc.CPUTicks(m.Pid())-cpu0) / 100
	if o.profile != "" {
		if err := <-profiled; err != nil {
			return err
		}
	}

	// 3. End to end: more apps created while every node takes them.
	e2eNames := names("more", o.more)
	e2eStart := time.Now()
	if _, err := createAll(ctx, c, e2eNames, src, o.workers); err != nil {
		return err
	}
	e2eLast, err := f.waitPlaced(e2eNames, o.within)
	if err != nil {
		return err
	}
	e2eTook := e2eLast.Sub(e2eStart)
	loadedRSS := masterproc.RSS(m.Pid())

	f.mu.Lock()
	counts := make([]int, 0, len(f.perNode))
	for _, n := range f.perNode {
		counts = append(counts, n)
	}
	f.mu.Unlock()
	sort.Ints(counts)

	apiRate := float64(o.apps) / apiTook.Seconds()
	placeRate := float64(o.apps) / took.Seconds()
	e2eRate := float64(o.more) / e2eTook.Seconds()
	fmt.Printf("gasper bench/sched: %d in-process agents, %d apps, %d API clients\n\n", o.agents, o.apps, o.workers)
	fmt.Printf("%-48s %.0f apps/s (%d in %s)\n", "API: create+upload, every node cordoned", apiRate, o.apps, apiTook.Round(time.Millisecond))
	fmt.Printf("%-48s %.0f placements/s (%d in %s)\n", "scheduler: pending apps placed after uncordon", placeRate, o.apps, took.Round(time.Millisecond))
	fmt.Printf("%-48s %s\n", "  placed by (from uncordon)", f.timeline(appNames, start))
	fmt.Printf("%-48s %s\n", "  uncordoning the nodes (one API call each) took", uncordoned.Round(time.Millisecond))
	fmt.Printf("%-48s %.2fx\n", "scheduler / API", placeRate/apiRate)
	fmt.Printf("%-48s %.0f apps/s (%d in %s)\n", "end to end: create+upload to placed", e2eRate, o.more, e2eTook.Round(time.Millisecond))
	fmt.Printf("%-48s %d\n", "builds asked of the agents", f.builds.Load())
	if len(counts) > 0 {
		fmt.Printf("%-48s min %d  median %d  max %d across %d nodes\n", "apps per node", counts[0], counts[len(counts)/2], counts[len(counts)-1], len(counts))
	}
	fmt.Printf("%-48s %.1f s (%.0f%% of one core while placing)\n", "master CPU", cpu, cpu/took.Seconds()*100)
	fmt.Printf("%-48s %s idle, %s with %d pending apps, %s with %d placed on %d nodes\n", "master RSS",
		masterproc.MiB(idleRSS), masterproc.MiB(pendingRSS), o.apps, masterproc.MiB(loadedRSS), o.apps+o.more, o.agents)
	return nil
}

// saveProfile records the master's CPU profile for d into file.
func saveProfile(addr, file string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func cordonAll(ctx context.Context, c *client.Client, nodes []api.Node, cordon bool) error {
	for _, n := range nodes {
		if _, err := c.CordonNode(ctx, n.ID, cordon); err != nil {
			return fmt.Errorf("cordon %s: %w", n.Hostname, err)
		}
	}
	return nil
}

// waitPending waits until n apps are pending.
func waitPending(ctx context.Context, c *client.Client, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	got := 0
	for time.Now().Before(deadline) {
		apps, err := c.Apps(ctx)
		if err != nil {
			return err
		}
		got = 0
		for _, a := range apps {
			if a.Status == api.AppPending {
				got++
			}
		}
		if got >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("only %d of %d apps pending after %s", got, n, within)
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}

// createAll creates and deploys every app with workers concurrent clients
// and returns how long the API calls took.
func createAll(ctx context.Context, c *client.Client, apps []string, src []byte, workers int) (time.Duration, error) {
	start := time.Now()
	next := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range next {
				if _, err := c.CreateApp(ctx, api.CreateAppRequest{Name: name, AppConfig: api.AppConfig{Runtime: "static", MemoryBytes: 64 << 20, CPUs: 0.1}}); err != nil {
					errs <- fmt.Errorf("create %s: %w", name, err)
					return
				}
				if _, err := c.UploadSource(ctx, name, bytes.NewReader(src)); err != nil {
					errs <- fmt.Errorf("deploy %s: %w", name, err)
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, n := range apps {
		select {
		case next <- n:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return time.Since(start), err
}

// fleet is what the in-process agents saw.
type fleet struct {
	mu      sync.Mutex
	start   time.Time
	placed  map[string]time.Time // app -> when it first reached a node's desired set
	perNode map[string]int       // node -> apps in its latest desired set
	builds  atomic.Int64
}

// agent is one in-process agent's answer to the master's calls: builds
// succeed at once, desired sets are recorded.
func (f *fleet) agent(host string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+proto.PathBuild, func(w http.ResponseWriter, r *http.Request) {
		var req proto.BuildRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.builds.Add(1)
		res, _ := json.Marshal(proto.BuildResult{OK: true, Runtime: "static", StartCmd: "serve", Port: 8080, Image: req.Image})
		w.Header().Set("Trailer", proto.TrailerBuildResult)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "==> built in memory\n")
		w.Header().Set(proto.TrailerBuildResult, string(res))
	})
	mux.HandleFunc("PUT "+proto.PathApps, func(w http.ResponseWriter, r *http.Request) {
		var specs []proto.AppSpec
		if err := json.NewDecoder(r.Body).Decode(&specs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		f.mu.Lock()
		for _, s := range specs {
			if _, ok := f.placed[s.App]; !ok && !f.start.IsZero() {
				f.placed[s.App] = now
			}
		}
		f.perNode[host] = len(specs)
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return mux
}

// waitPlaced waits until every app reached a node and returns when the last did.
func (f *fleet) waitPlaced(apps []string, within time.Duration) (time.Time, error) {
	deadline := time.Now().Add(within)
	for {
		f.mu.Lock()
		var last time.Time
		missing := 0
		for _, a := range apps {
			t, ok := f.placed[a]
			if !ok {
				missing++
				continue
			}
			if t.After(last) {
				last = t
			}
		}
		f.mu.Unlock()
		if missing == 0 {
			return last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d apps were not in any node's desired set after %s", missing, len(apps), within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// timeline tells when the first, the 10th, 50th and 90th percentile and
// the last of apps was placed, after start.
func (f *fleet) timeline(apps []string, start time.Time) string {
	f.mu.Lock()
	at := make([]time.Duration, 0, len(apps))
	for _, a := range apps {
		at = append(at, f.placed[a].Sub(start))
	}
	f.mu.Unlock()
	sort.Slice(at, func(i, j int) bool { return at[i] < at[j] })
	q := func(p int) string { return at[min(len(at)-1, len(at)*p/100)].Round(time.Millisecond).String() }
	return fmt.Sprintf("first %s, 10%% %s, 50%% %s, 90%% %s, last %s", q(0), q(10), q(50), q(90), q(100))
}

// sourceArchive is a static site's tar.gz.
func sourceArchive() ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("<h1>hello</h1>\n")
	if err := tw.WriteHeader(&tar.Header{Name: "index.html", Mode: 0o644, Size: int64(len(body))}); err != nil {
		return nil, err
	}
	tw.Write(body)
	tw.Close()
	gz.Close()
	return buf.Bytes(), nil
}
