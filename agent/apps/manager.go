package apps

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/internal/jsonfile"
	"gasper/proto"
)

// Labels the manager puts on its containers.
const (
	labelApp     = "gasper.app"
	labelRelease = "gasper.release"
	labelSpec    = "gasper.spec" // hash of the AppSpec the container runs
	labelBuild   = "gasper.build"
)

// Config configures a Manager.
type Config struct {
	Driver *container.Driver
	Images *image.Builder
	// Master returns an HTTP client to the master over the tunnel.
	Master func() *http.Client
	// StateDir keeps apps.json (the desired set) and build directories.
	StateDir string
	// Advertise is the host part of the addresses instances are reported at.
	Advertise string
	// HealthTimeout is how long a new instance may take to become healthy
	// before it counts as failing; the old instance keeps serving meanwhile.
	HealthTimeout time.Duration
	// Drain is how long a replaced instance keeps running after its
	// successor is healthy, so proxies move to the new one before the old
	// one stops; default 5s.
	Drain  time.Duration
	Logger *slog.Logger

	// SavedWait is how long an agent that starts with a saved desired set
	// waits for the master's current one before it starts instances from
	// the saved set; default 5s (the master's default heartbeat grace).
	SavedWait time.Duration

	// MaxBuilds is how many image builds run at once; default 2. Builds of
	// one image never run side by side.
	MaxBuilds int
}

// Manager runs the app role. Create it with New, register its routes and
// start it with Run.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	desired map[string]proto.AppSpec // by app; nil until known
	track   map[string]*tracked      // by container id
	images  map[string][]string      // app -> images built here
	leaving map[string]bool          // containers being stopped in the background
	dropped map[string]bool          // apps no longer desired here: their images go once their containers have
	wake    chan struct{}
	changed bool          // an instance changed state: report at once
	builds  chan struct{} // a slot per build that may run: builds are heavy on small nodes
	// reportMu: one status report at a time (watchFresh reports too).
	reportMu sync.Mutex
	imgBusy  map[string]chan struct{} // image -> closed when its build ends: one build per image
	startup                           // the saved desired set waits for the master's

	// unrouted: the master's last push said no route has this node's
	// instances (it is down or returning), so what leaves needs no drain.
	unrouted bool
}

// freshPoll is how soon the manager looks again at an instance that is
// starting (or at an old one waiting for its successor), rather than at
// the next one-second tick.
const freshPoll = 250 * time.Millisecond

// freshProbe is how often a new instance's watcher probes its health.
const freshProbe = 100 * time.Millisecond

// convergeAtOnce bounds how many apps a reconcile pass converges at once.
const convergeAtOnce = 4

// freshWatch is how long after its start an instance is looked at every
// freshPoll until it is healthy.
const freshWatch = 20 * time.Second

// tracked is what the manager remembers of a container between passes.
type tracked struct {
	state     string
	healthyAt time.Time // when it last became healthy
	restarts  int
	nextStart time.Time // when a crashed instance may be started again
	since     time.Time // when it was (re)started
	lastLog   string
	exitCode  int
	oom       bool
	leaveAt   time.Time // when it left the routes, on its way out
}

type stateFile struct {
	Desired []proto.AppSpec     `json:"desired"`
	Images  map[string][]string `json:"images"`
}

// New loads the desired set kept by an earlier run.
func New(cfg Config) (*Manager, error) {
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 2 * time.Minute
	}
	if cfg.Drain == 0 {
		cfg.Drain = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBuilds <= 0 {
		cfg.MaxBuilds = 2
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "apps"), track: map[string]*tracked{},
		images: map[string][]string{}, leaving: map[string]bool{}, dropped: map[string]bool{}, wake: make(chan struct{}, 1),
		builds: make(chan struct{}, cfg.MaxBuilds), imgBusy: map[string]chan struct{}{}}
	var st stateFile
	ok, err := jsonfile.Load(m.statePath(), &st)
	if err != nil {
		return nil, err
	}
	m.startup = newStartup(ok)
	if ok {
		m.desired = map[string]proto.AppSpec{}
		for _, s := range st.Desired {
			m.desired[s.App] = s
		}
		if st.Images != nil {
			m.images = st.Images
		}
	}
	return m, nil
}

func (m *Manager) statePath() string { return filepath.Join(m.cfg.StateDir, "apps.json") }

// save writes the desired set; the caller holds m.mu.
func (m *Manager) save() error {
	st := stateFile{Desired: []proto.AppSpec{}, Images: m.images}
	for _, s := range m.desired {
		st.Desired = append(st.Desired, s)
	}
	sort.Slice(st.Desired, func(i, j int) bool { return st.Desired[i].App < st.Desired[j].App })
	return jsonfile.Save(m.statePath(), st)
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Register adds the routes the master calls.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+proto.PathApps, m.handleDesired)
	mux.HandleFunc("POST "+proto.PathBuild, m.handleBuild)
	mux.HandleFunc("GET "+proto.PathAppLogs, m.handleLogs)
	mux.HandleFunc("POST "+proto.PathExec, m.handleExec)
}

func (m *Manager) handleDesired(w http.ResponseWriter, r *http.Request) {
	var specs []proto.AppSpec
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&specs); err != nil {
		http.Error(w, "invalid desired apps: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.unrouted = r.URL.Query().Get(proto.QueryUnrouted) == "1"
	for app := range m.desired {
		m.dropped[app] = true
	}
	m.desired = map[string]proto.AppSpec{}
	for _, s := range specs {
		m.desired[s.App] = s
		delete(m.dropped, s.App)
	}
	err := m.save()
	m.mu.Unlock()
	if err != nil {
		http.Error(w, "keep desired apps: "+err.Error(), http.StatusInternalServerError)
		return
	}
	m.masterSpoke()
	m.poke()
	w.WriteHeader(http.StatusNoContent)
}

// Run converges and reports until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.awaitMaster(ctx)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastReport := time.Time{}
	for {
		m.reconcile(ctx)
		m.mu.Lock()
		changed := m.changed
		m.changed = false
		m.mu.Unlock()
		if changed || time.Since(lastReport) >= 2*time.Second {
			m.report(ctx)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-m.wake:
		}
	}
}

// specHash names an AppSpec's content: a container runs one spec, and a
// changed spec means a new container.
func specHash(s proto.AppSpec) string {
	// Where names resolve is not worth a restart: new instances pick it up.
	// How many run is not either: scaling starts or stops instances.
	s.Resolvers, s.SearchDomain, s.Instances = nil, "", 0
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func (m *Manager) reconcile(ctx context.Context) {
	m.mu.Lock()
	if m.desired == nil {
		m.mu.Unlock()
		return // nothing known yet: touch nothing until the master says
	}
	desired := make(map[string]proto.AppSpec, len(m.desired))
	for k, v := range m.desired {
		desired[k] = v
	}
	m.mu.Unlock()

	all, err := m.cfg.Driver.List(ctx, map[string]string{})
	if err != nil {
		m.log.Warn("list containers", "err", err)
		return
	}
	byApp := map[string][]container.Status{}
	for _, c := range all {
		if app := c.Labels[labelApp]; app != "" && c.Labels[labelBuild] == "" {
			byApp[app] = append(byApp[app], c)
		}
	}
	// Apps converge side by side: after a failover a node starts several
	// new instances at once, and each start (snapshot, network, task) and
	// health check would otherwise wait for the others'.
	var wg sync.WaitGroup
	slots := make(chan struct{}, convergeAtOnce)
	for app, spec := range desired {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			m.converge(ctx, spec, byApp[app])
		}()
	}
	wg.Wait()
	for app, cs := range byApp {
		if _, ok := desired[app]; !ok {
			for _, c := range cs {
				m.leave(ctx, c)
			}
		}
	}
	m.mu.Lock()
	var gone []string
	for app := range m.dropped {
		// m.desired, not this pass's copy: a push may have come meanwhile.
		if _, ok := m.desired[app]; ok {
			delete(m.dropped, app)
		} else if len(byApp[app]) == 0 {
			gone = append(gone, app) // its containers are gone: now its images
			delete(m.dropped, app)
		}
	}
	m.mu.Unlock()
	for _, app := range gone {
		m.removeImages(ctx, app)
	}
}

// converge brings one app to its spec: spec.Count() healthy containers of
// the spec. A new container starts before an old one leaves, and an old one
// leaves only when a new one is healthy in its place; one that leaves is
// first reported stopping (so the proxies drop it) and stops after Drain.
func (m *Manager) converge(ctx context.Context, spec proto.AppSpec, cs []container.Status) {
	want, n := specHash(spec), spec.Count()
	var cur, old []container.Status
	healthy := map[string]bool{}
	for _, c := range cs {
		switch {
		case m.leavingSince(c.ID):
			m.leave(ctx, c)
		case c.Labels[labelSpec] == want:
			cur = append(cur, c)
		default:
			old = append(old, c)
		}
	}
	starting, fresh := 0, false
	for _, c := range cur {
		switch state, _ := m.check(ctx, spec, c); state {
		case proto.InstanceHealthy:
			healthy[c.ID] = true
		case proto.InstanceStarting:
			// Watched closely for a while; a slow starter is then left to
			// the tick.
			fresh = fresh || time.Since(c.StartedAt) < freshWatch
			starting++
		default:
			starting++
		}
	}
	// Keep the healthy and the longest running: the rest are surplus.
	sort.SliceStable(cur, func(i, j int) bool {
		if healthy[cur[i].ID] != healthy[cur[j].ID] {
			return healthy[cur[i].ID]
		}
		return cur[i].StartedAt.Before(cur[j].StartedAt)
	})
	for len(cur) > n {
		c := cur[len(cur)-1]
		cur = cur[:len(cur)-1]
		if !healthy[c.ID] {
			starting--
		}
		delete(healthy, c.ID)
		m.leave(ctx, c)
	}
	// Start what is missing: all at once when scaling up, one at a time
	// when replacing a release (the old ones serve meanwhile).
	missing := n - len(cur)
	if len(old) > 0 && starting > 0 {
		missing = 0
	} else if len(old) > 0 {
		missing = min(missing, 1)
	}
	for range missing {
		if _, err := m.startNew(ctx, spec, want); err != nil {
			m.log.Error("start instance", "app", spec.App, "release", spec.Release, "err", err)
			break
		}
		fresh = true
	}
	// Old ones leave as new ones are healthy: never fewer than n serving.
	sort.SliceStable(old, func(i, j int) bool { // the failing leave first
		return m.stateOf(old[i].ID) != proto.InstanceHealthy && m.stateOf(old[j].ID) == proto.InstanceHealthy
	})
	for i := 0; i < len(old) && len(old)-i+len(healthy) > n; i++ {
		m.leave(ctx, old[i])
	}
	if fresh || len(old) > 0 {
		// Watch new instances become healthy without waiting for the tick:
		// a replica that replaces one on a dead node serves a second
		// sooner, and an old one leaves as soon as its successor serves.
		time.AfterFunc(freshPoll, m.poke)
	}
}

func (m *Manager) stateOf(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.track[id]; t != nil {
		return t.state
	}
	return ""
}

func (m *Manager) leavingSince(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.track[id]
	return t != nil && !t.leaveAt.IsZero()
}

// leave takes a container out of service: at once it is reported stopping,
// so the master drops it from the proxies' routes; after Drain it stops
// (at once when the master said no route has it).
func (m *Manager) leave(ctx context.Context, c container.Status) {
	m.mu.Lock()
	t := m.track[c.ID]
	if t == nil {
		t = &tracked{since: c.StartedAt}
		m.track[c.ID] = t
	}
	if t.leaveAt.IsZero() {
		t.leaveAt, t.state = time.Now(), proto.InstanceStopping
		m.changed = true
		drain := m.cfg.Drain
		if m.unrouted {
			drain = 0
		}
		time.AfterFunc(drain, m.poke)
		m.log.Info("instance leaving", "app", c.Labels[labelApp], "container", c.ID, "stops_in", drain)
	}
	due := m.unrouted || time.Since(t.leaveAt) >= m.cfg.Drain || c.State != container.StateRunning
	m.mu.Unlock()
	if due {
		m.retire(ctx, c.ID)
	}
}

// retire stops and removes a container in the background: its grace
// period must not hold up the other apps.
func (m *Manager) retire(ctx context.Context, id string) {
	m.mu.Lock()
	busy := m.leaving[id]
	m.leaving[id] = true
	m.mu.Unlock()
	if busy {
		return
	}
	m.log.Info("stopping instance", "container", id)
	go func() {
		m.removeContainer(context.WithoutCancel(ctx), id)
		m.mu.Lock()
		delete(m.leaving, id)
		m.mu.Unlock()
		m.poke()
	}()
}

func (m *Manager) startNew(ctx context.Context, spec proto.AppSpec, hash string) (container.Status, error) {
	id := containerID(spec.App, spec.Release)
	// GASPER_INSTANCE tells an instance apart from the app's other replicas.
	env := append([]string{"PORT=" + strconv.Itoa(spec.Port), "GASPER_INSTANCE=" + id}, spec.Env...)
	err := m.cfg.Driver.Create(ctx, container.Spec{
		ID: id, Image: spec.Image, Args: []string{"sh", "-c", spec.StartCmd}, Env: env, WorkDir: "/app",
		Labels:      map[string]string{labelApp: spec.App, labelRelease: strconv.Itoa(spec.Release), labelSpec: hash},
		MemoryBytes: spec.MemoryBytes, CPUs: spec.CPUs,
		Ports:     []container.Port{{ContainerPort: spec.Port, Protocol: "tcp"}},
		Hostname:  spec.App,
		Init:      true,
		DNS:       spec.Resolvers,
		DNSSearch: search(spec.SearchDomain),
	})
	if err != nil {
		return container.Status{}, err
	}
	m.mu.Lock()
	m.track[id] = &tracked{state: proto.InstanceStarting, since: time.Now()}
	m.mu.Unlock()
	m.log.Info("starting instance", "app", spec.App, "release", spec.Release, "container", id)
	st, err := m.cfg.Driver.Start(ctx, id)
	if err != nil {
		// Keep the container: the next pass retries it with backoff and
		// reports why it does not run.
		return m.cfg.Driver.Status(ctx, id)
	}
	go m.watchFresh(ctx, spec, st)
	return st, nil
}

func search(domain string) []string {
	if domain == "" {
		return nil
	}
	return []string{domain}
}

// containerID makes a unique container id that is a DNS label.
func containerID(app string, release int) string {
	var b [3]byte
	rand.Read(b[:])
	suffix := fmt.Sprintf("-r%d-%s", release, hex.EncodeToString(b[:]))
	if len(app)+len(suffix) > 63 {
		app = strings.TrimRight(app[:63-len(suffix)], "-")
	}
	return app + suffix
}

// check updates a container's tracked state: health while it runs, restart
// with backoff when it exited. It returns the state and, when healthy, for
// how long it has been.
func (m *Manager) check(ctx context.Context, spec proto.AppSpec, c container.Status) (string, time.Duration) {
	m.mu.Lock()
	t := m.track[c.ID]
	if t == nil { // adopted from an earlier run of the agent
		t = &tracked{state: proto.InstanceStarting, since: c.StartedAt}
		m.track[c.ID] = t
	}
	before := t.state
	m.mu.Unlock()

	// t is written under m.mu: a new instance's watcher (watchFresh) may
	// mark it healthy meanwhile. Probes and container calls run unlocked.
	switch c.State {
	case container.StateRunning:
		ok := m.healthy(ctx, spec, c)
		m.mu.Lock()
		if ok {
			m.markHealthy(spec.App, c.ID, t)
		} else if t.state == proto.InstanceHealthy || time.Since(t.since) > m.cfg.HealthTimeout {
			t.state = proto.InstanceUnhealthy
		}
		m.mu.Unlock()
	default: // exited, or created and never started
		m.mu.Lock()
		exited := c.State == container.StateStopped && !c.ExitedAt.IsZero() && t.nextStart.IsZero()
		m.mu.Unlock()
		if exited {
			lastLog := m.tail(ctx, c.ID, 20)
			m.mu.Lock()
			t.restarts++
			t.exitCode, t.oom = c.ExitCode, c.OOMKilled
			t.state = proto.InstanceCrashLoop
			if c.OOMKilled {
				t.state = proto.InstanceOOM
			}
			t.lastLog = lastLog
			backoff := min(time.Second<<min(t.restarts-1, 5), 30*time.Second)
			t.nextStart = time.Now().Add(backoff)
			restarts := t.restarts
			m.mu.Unlock()
			m.log.Warn("instance exited; restarting with backoff", "app", spec.App, "container", c.ID,
				"exit_code", c.ExitCode, "oom", c.OOMKilled, "restarts", restarts, "backoff", backoff)
		}
		m.mu.Lock()
		due := time.Now().After(t.nextStart)
		if due {
			t.nextStart, t.since = time.Time{}, time.Now()
		}
		m.mu.Unlock()
		if due {
			if _, err := m.cfg.Driver.Start(ctx, c.ID); err != nil {
				// It could not even start: a crash as far as the user is
				// concerned, with the reason where they look for it.
				m.mu.Lock()
				t.restarts++
				t.state, t.lastLog = proto.InstanceCrashLoop, "gasper: the process could not start: "+err.Error()
				backoff := min(time.Second<<min(t.restarts-1, 5), 30*time.Second)
				t.nextStart = time.Now().Add(backoff)
				restarts := t.restarts
				m.mu.Unlock()
				m.log.Error("start instance", "container", c.ID, "err", err, "restarts", restarts, "backoff", backoff)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.state != before {
		m.changed = true
	}
	if t.state == proto.InstanceHealthy {
		return t.state, time.Since(t.healthyAt)
	}
	return t.state, 0
}

// markHealthy records that an instance answered its health check; the
// caller holds m.mu.
func (m *Manager) markHealthy(app, id string, t *tracked) {
	if t.state != proto.InstanceHealthy {
		t.healthyAt = time.Now()
		if t.state == proto.InstanceStarting {
			m.log.Info("instance healthy", "app", app, "container", id, "after", time.Since(t.since).Round(time.Millisecond))
		}
		m.changed = true
	}
	t.state = proto.InstanceHealthy
	t.lastLog = ""
}

// watchFresh probes a new instance every freshProbe until it answers its
// health check (for at most freshWatch), then marks it healthy and reports
// at once: the master routes to it without waiting for a reconcile pass,
// which may be busy starting other apps' instances.
func (m *Manager) watchFresh(ctx context.Context, spec proto.AppSpec, c container.Status) {
	tick := time.NewTicker(freshProbe)
	defer tick.Stop()
	deadline := time.Now().Add(freshWatch)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.mu.Lock()
		t := m.track[c.ID]
		starting := t != nil && t.state == proto.InstanceStarting && t.leaveAt.IsZero()
		m.mu.Unlock()
		if !starting {
			return // the reconcile pass saw it first, or it left or crashed
		}
		if !m.healthy(ctx, spec, c) {
			continue
		}
		m.mu.Lock()
		if t.state == proto.InstanceStarting && t.leaveAt.IsZero() {
			m.markHealthy(spec.App, c.ID, t)
		}
		m.mu.Unlock()
		m.report(ctx)
		m.poke()
		return
	}
}

func (m *Manager) healthy(ctx context.Context, spec proto.AppSpec, c container.Status) bool {
	if len(c.Ports) == 0 || c.Ports[0].HostPort == 0 {
		return false
	}
	addr := net.JoinHostPort(m.cfg.Advertise, strconv.Itoa(c.Ports[0].HostPort))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if spec.Health.Type == "tcp" {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+spec.Health.Path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "gasper-health")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode < 500
}

func (m *Manager) tail(ctx context.Context, id string, n int) string {
	rc, err := m.cfg.Driver.Logs(ctx, id, container.LogOptions{Tail: n})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 16<<10))
	return string(b)
}

func (m *Manager) removeContainer(ctx context.Context, id string) {
	if err := m.cfg.Driver.Stop(ctx, id, 10*time.Second); err != nil && !errors.Is(err, container.ErrNotFound) {
		m.log.Warn("stop container", "container", id, "err", err)
	}
	if err := m.cfg.Driver.Remove(ctx, id); err != nil && !errors.Is(err, container.ErrNotFound) {
		m.log.Warn("remove container", "container", id, "err", err)
	}
	m.mu.Lock()
	delete(m.track, id)
	m.mu.Unlock()
}

// removeImages removes the images of an app no longer desired here.
func (m *Manager) removeImages(ctx context.Context, app string) {
	m.mu.Lock()
	imgs := m.images[app]
	delete(m.images, app)
	m.save()
	m.mu.Unlock()
	for _, img := range imgs {
		if err := m.cfg.Images.Remove(ctx, img); err != nil {
			m.log.Warn("remove image", "image", img, "err", err)
		}
	}
}

// report sends every instance's state to the master. Reports are sent
// one at a time, so the master never gets an older one after a newer one.
func (m *Manager) report(ctx context.Context) {
	m.reportMu.Lock()
	defer m.reportMu.Unlock()
	all, err := m.cfg.Driver.List(ctx, map[string]string{})
	if err != nil {
		return
	}
	rep := proto.StatusReport{Instances: []proto.InstanceStatus{}, Images: map[string][]string{}}
	m.mu.Lock()
	for app, imgs := range m.images {
		rep.Images[app] = append([]string{}, imgs...)
	}
	for _, c := range all {
		app := c.Labels[labelApp]
		if app == "" || c.Labels[labelBuild] != "" {
			continue
		}
		in := proto.InstanceStatus{ID: c.ID, App: app, State: proto.InstanceStarting, StartedAt: c.StartedAt}
		in.Release, _ = strconv.Atoi(c.Labels[labelRelease])
		if len(c.Ports) > 0 && c.Ports[0].HostPort != 0 {
			in.Address = net.JoinHostPort(m.cfg.Advertise, strconv.Itoa(c.Ports[0].HostPort))
		}
		if t := m.track[c.ID]; t != nil {
			in.State, in.Restarts, in.ExitCode, in.OOMKilled, in.LastLog = t.state, t.restarts, t.exitCode, t.oom, t.lastLog
		}
		rep.Instances = append(rep.Instances, in)
	}
	m.mu.Unlock()
	body, _ := json.Marshal(rep)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "POST", "http://master"+proto.PathStatus, bytes.NewReader(body))
	resp, err := m.cfg.Master().Do(req)
	if err != nil {
		return // the master is away; the next report will tell it
	}
	resp.Body.Close()
}
