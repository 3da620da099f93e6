// Package dbs is the agent's db role: it runs each database in its own container with its own
// volume, provisions it on first start, reports its state, and streams backups and restores.
package dbs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gasper/engines"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/internal/jsonfile"
	"gasper/proto"
)

// Labels the manager puts on database containers.
const (
	labelDB   = "gasper.db"
	labelSpec = "gasper.db-spec" // hash of what the container was made from
	labelGen  = "gasper.db-generation"
)

// Config configures a Manager.
type Config struct {
	Driver *container.Driver
	Images *image.Builder
	// Master returns an HTTP client to the master over the tunnel.
	Master func() *http.Client
	// StateDir keeps dbs.json (the desired set and chosen ports) and dbs/<name>-<id>/ (each
	// database's data and password).
	StateDir string
	// Advertise is the address database ports are published on.
	Advertise string
	// ReadyTimeout bounds a server's start to ready (first-run provisioning included).
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

// Manager runs the db role. Create it with New, register its routes and start it with Run.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	desired map[string]proto.DBSpec // by name; nil until the master said
	ports   map[string]int          // host port by database id, kept across restarts
	state   map[string]*tracked     // by name
	locks   map[string]*sync.Mutex  // by name: backups, restores and restarts one at a time
	wake    chan struct{}
	changed bool
}

type tracked struct {
	state     string
	restarts  int
	err       string
	lastLog   string
	nextStart time.Time
	since     time.Time // when the current container started
	preparing bool      // its image is being built
}

type stateFile struct {
	Desired []proto.DBSpec `json:"desired"`
	Ports   map[string]int `json:"ports"`
}

// New loads the desired set kept by an earlier run.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 3 * time.Minute
	}
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "dbs"), ports: map[string]int{},
		state: map[string]*tracked{}, locks: map[string]*sync.Mutex{}, wake: make(chan struct{}, 1)}
	var st stateFile
	ok, err := jsonfile.Load(m.statePath(), &st)
	switch {
	case err != nil:
		return nil, err
	case ok:
		m.desired = map[string]proto.DBSpec{}
		for _, s := range st.Desired {
			m.desired[s.Name] = s
		}
		if st.Ports != nil {
			m.ports = st.Ports
		}
	}
	return m, nil
}

func (m *Manager) statePath() string { return filepath.Join(m.cfg.StateDir, "dbs.json") }

// dir is where a database keeps its data and password on the node.
func (m *Manager) dir(s proto.DBSpec) string {
	return filepath.Join(m.cfg.StateDir, "dbs", s.Name+"-"+s.ID)
}

// save writes the desired set; the caller holds m.mu.
func (m *Manager) save() error {
	st := stateFile{Desired: []proto.DBSpec{}, Ports: m.ports}
	for _, s := range m.desired {
		st.Desired = append(st.Desired, s)
	}
	sort.Slice(st.Desired, func(i, j int) bool { return st.Desired[i].Name < st.Desired[j].Name })
	return jsonfile.Save(m.statePath(), st)
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// lock serialises backups, restores and replacements of one database.
func (m *Manager) lock(name string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	return l
}

// Register adds the routes the master calls.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+proto.PathDBs, m.handleDesired)
	mux.HandleFunc("GET "+proto.PathDBLogs, m.handleLogs)
	mux.HandleFunc("POST "+proto.PathDBBackup, m.handleBackup)
	mux.HandleFunc("POST "+proto.PathDBRestore, m.handleRestore)
	mux.HandleFunc("DELETE "+proto.PathDBData, m.handleDeleteData)
}

// handleDeleteData removes a deleted database's container and data directory. The desired set
// alone never deletes data: a database missing from it is only stopped.
func (m *Manager) handleDeleteData(w http.ResponseWriter, r *http.Request) {
	s := proto.DBSpec{Name: r.PathValue("db"), ID: r.URL.Query().Get("id")}
	if container.ValidateID(containerID(s)) != nil || s.ID == "" || strings.ContainsAny(s.ID, "/.") {
		http.Error(w, "invalid database name or id", http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	d, wanted := m.desired[s.Name]
	m.mu.Unlock()
	if wanted && d.ID == s.ID {
		http.Error(w, "database "+s.Name+" is still wanted on this node", http.StatusConflict)
		return
	}
	l := m.lock(s.Name)
	l.Lock()
	defer l.Unlock()
	if !wanted {
		if err := m.cfg.Driver.Remove(r.Context(), containerID(s)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if err := os.RemoveAll(m.dir(s)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	m.mu.Lock()
	delete(m.ports, s.ID)
	err := m.save()
	m.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	m.log.Info("deleted database data", "db", s.Name)
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) handleDesired(w http.ResponseWriter, r *http.Request) {
	var specs []proto.DBSpec
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&specs); err != nil {
		http.Error(w, "invalid desired databases: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, s := range specs {
		if _, ok := engines.Get(s.Engine); !ok || container.ValidateID(containerID(s)) != nil || s.ID == "" ||
			strings.ContainsAny(s.ID, "/.") {
			http.Error(w, fmt.Sprintf("invalid database spec %q (engine %q)", s.Name, s.Engine), http.StatusBadRequest)
			return
		}
	}
	m.mu.Lock()
	m.desired = map[string]proto.DBSpec{}
	for _, s := range specs {
		m.desired[s.Name] = s
	}
	err := m.save()
	m.mu.Unlock()
	if err != nil {
		http.Error(w, "keep desired databases: "+err.Error(), http.StatusInternalServerError)
		return
	}
	m.poke()
	w.WriteHeader(http.StatusNoContent)
}

// containerID is the database's container: one per database on a node.
func containerID(s proto.DBSpec) string { return "db-" + s.Name }

// specHash names what a container is made from; a different hash means a new container (the
// data stays on the volume).
func specHash(s proto.DBSpec) string {
	b, _ := json.Marshal(struct {
		ID, Engine, Image string
		Memory            int64
		CPUs              float64
		Generation        int
	}{s.ID, s.Engine, s.Image, s.MemoryBytes, s.CPUs, s.Generation})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Run converges and reports until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last time.Time
	for {
		m.reconcile(ctx)
		m.mu.Lock()
		changed := m.changed
		m.changed = false
		m.mu.Unlock()
		if changed || time.Since(last) >= 5*time.Second {
			m.report(ctx)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-m.wake:
		}
	}
}

func (m *Manager) reconcile(ctx context.Context) {
	m.mu.Lock()
	if m.desired == nil {
		m.mu.Unlock()
		return // nothing known yet: touch nothing until the master says
	}
	desired := make(map[string]proto.DBSpec, len(m.desired))
	for k, v := range m.desired {
		desired[k] = v
	}
	m.mu.Unlock()
	all, err := m.cfg.Driver.List(ctx, map[string]string{})
	if err != nil {
		m.log.Warn("list containers", "err", err)
		return
	}
	have := map[string]container.Status{}
	for _, c := range all {
		if name := c.Labels[labelDB]; name != "" {
			have[name] = c
		}
	}
	for name, spec := range desired {
		l := m.lock(name)
		if !l.TryLock() {
			continue // a backup, restore or restart is under way
		}
		c, ok := have[name]
		m.converge(ctx, spec, c, ok)
		l.Unlock()
	}
	for name, c := range have {
		if _, ok := desired[name]; !ok {
			m.log.Info("stopping database no longer wanted here", "db", name)
			if err := m.cfg.Driver.Stop(ctx, c.ID, 30*time.Second); err != nil {
				m.log.Warn("stop database", "db", name, "err", err)
			}
			if err := m.cfg.Driver.Remove(ctx, c.ID); err != nil {
				m.log.Warn("remove database container", "db", name, "err", err)
			}
			m.mu.Lock()
			delete(m.state, name)
			m.changed = true
			m.mu.Unlock()
		}
	}
}

// converge brings one database to its spec: a container of the spec, running, ready.
func (m *Manager) converge(ctx context.Context, spec proto.DBSpec, c container.Status, exists bool) {
	m.mu.Lock()
	t := m.state[spec.Name]
	if t == nil {
		t = &tracked{state: proto.DBStarting}
		m.state[spec.Name] = t
	}
	preparing, state, nextStart := t.preparing, t.state, t.nextStart
	m.mu.Unlock()
	if preparing {
		return
	}
	if exists && c.Labels[labelSpec] != specHash(spec) {
		m.log.Info("replacing database container", "db", spec.Name)
		if err := m.cfg.Driver.Stop(ctx, c.ID, 30*time.Second); err != nil {
			m.log.Warn("stop database for replacement", "db", spec.Name, "err", err)
		}
		if err := m.cfg.Driver.Remove(ctx, c.ID); err != nil {
			m.setState(spec.Name, func(t *tracked) { t.state, t.err = proto.DBFailing, "replacing the container: "+err.Error() })
			return
		}
		m.setState(spec.Name, func(t *tracked) { t.state, t.err, t.lastLog = proto.DBStarting, "", "" })
		exists = false
	}
	if !exists {
		m.prepare(ctx, spec)
		return
	}
	switch c.State {
	case container.StateRunning:
		if state == proto.DBReady {
			return
		}
		if m.ready(ctx, c.ID) {
			m.setState(spec.Name, func(t *tracked) { t.state, t.err = proto.DBReady, "" })
			m.log.Info("database ready", "db", spec.Name, "engine", spec.Engine)
		} else if time.Since(c.StartedAt) > m.cfg.ReadyTimeout {
			last := m.tail(ctx, c.ID)
			m.setState(spec.Name, func(t *tracked) {
				t.state, t.err, t.lastLog = proto.DBFailing, "not ready after "+m.cfg.ReadyTimeout.String(), last
			})
		}
	default: // created, stopped: start it, with backoff after failures
		if time.Now().Before(nextStart) {
			return
		}
		if !c.StartedAt.IsZero() { // it ran and exited: restart at once, then with growing pauses
			last := m.tail(ctx, c.ID)
			m.setState(spec.Name, func(t *tracked) {
				t.restarts++
				t.state = proto.DBFailing
				t.err = fmt.Sprintf("the server exited with code %d", c.ExitCode)
				if c.OOMKilled {
					t.err = "the server was killed for exceeding its memory limit"
				}
				t.lastLog = last
				t.nextStart = time.Now().Add(backoff(t.restarts))
			})
		}
		if _, err := m.cfg.Driver.Start(ctx, c.ID); err != nil {
			m.setState(spec.Name, func(t *tracked) { t.state, t.err = proto.DBFailing, err.Error() })
			return
		}
		m.setState(spec.Name, func(t *tracked) {
			if t.state != proto.DBFailing {
				t.state = proto.DBStarting
			}
		})
	}
}

func backoff(restarts int) time.Duration {
	d := time.Second << min(restarts, 6)
	return min(d, time.Minute)
}

func (m *Manager) setState(name string, f func(*tracked)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.state[name]
	if t == nil {
		t = &tracked{}
		m.state[name] = t
	}
	before := *t
	f(t)
	if *t != before {
		m.changed = true
	}
}

// prepare builds the engine's image (in the background: the first build takes minutes) and
// creates the database's container.
func (m *Manager) prepare(ctx context.Context, spec proto.DBSpec) {
	e, _ := engines.Get(spec.Engine)
	m.setState(spec.Name, func(t *tracked) { t.preparing, t.state = true, proto.DBStarting })
	go func() {
		err := m.create(ctx, spec, e)
		if errors.Is(err, container.ErrExists) {
			// It is there after all (a pass that listed before it appeared): the next pass
			// looks at it, and replaces it if it is not of this spec.
			m.log.Info("database container already exists; looking at it again", "db", spec.Name)
			err = nil
		}
		m.setState(spec.Name, func(t *tracked) {
			t.preparing = false
			if err != nil {
				t.state, t.err = proto.DBFailing, err.Error()
				t.restarts++
				t.nextStart = time.Now().Add(backoff(t.restarts))
			}
		})
		if err != nil {
			m.log.Error("create database", "db", spec.Name, "err", err)
		}
		m.poke()
	}()
}

func (m *Manager) create(ctx context.Context, spec proto.DBSpec, e engines.Engine) error {
	recipe := e.Recipe
	if spec.Image != "" {
		recipe = image.Recipe{Name: recipe.Name, Ref: spec.Image}
	}
	img, err := m.cfg.Images.Ensure(ctx, recipe, io.Discard)
	if err != nil {
		return fmt.Errorf("image for %s: %w", spec.Engine, err)
	}
	dir := m.dir(spec)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte(spec.Password), 0o600); err != nil {
		return err
	}
	port, err := m.hostPort(spec)
	if err != nil {
		return err
	}
	return m.cfg.Driver.Create(ctx, container.Spec{
		ID: containerID(spec), Image: img, Args: []string{engines.StartCmd}, Env: e.Env(spec.Name),
		Labels:      map[string]string{labelDB: spec.Name, labelSpec: specHash(spec), labelGen: strconv.Itoa(spec.Generation)},
		MemoryBytes: spec.MemoryBytes, CPUs: spec.CPUs,
		Ports: []container.Port{{ContainerPort: e.Port, HostPort: port, Protocol: "tcp"}},
		Mounts: []container.Mount{
			{Source: filepath.Join(dir, "data"), Target: engines.DataDir},
			{Source: pw, Target: engines.PasswordFile, ReadOnly: true},
		},
		Hostname: spec.Name,
		Init:     true,
	})
}

// hostPort is the database's published port: chosen once and kept, so its address stays the
// same across restarts of the container and the agent.
func (m *Manager) hostPort(spec proto.DBSpec) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.ports[spec.ID]; ok {
		return p, nil
	}
	l, err := net.Listen("tcp4", net.JoinHostPort(m.cfg.Advertise, "0"))
	if err != nil {
		return 0, fmt.Errorf("choosing a port on %s: %w", m.cfg.Advertise, err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m.ports[spec.ID] = p
	return p, m.save()
}

// ready runs the engine's readiness check in the container.
func (m *Manager) ready(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	code, err := m.cfg.Driver.Exec(ctx, id, container.ExecSpec{Args: []string{engines.ReadyCmd}})
	return err == nil && code == 0
}

func (m *Manager) tail(ctx context.Context, id string) string {
	rc, err := m.cfg.Driver.Logs(ctx, id, container.LogOptions{Tail: 20})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 8<<10))
	return string(b)
}

func (m *Manager) report(ctx context.Context) {
	all, err := m.cfg.Driver.List(ctx, map[string]string{})
	if err != nil {
		return
	}
	ports, gens := map[string]int{}, map[string]int{}
	for _, c := range all {
		if name := c.Labels[labelDB]; name != "" {
			if len(c.Ports) > 0 {
				ports[name] = c.Ports[0].HostPort
			}
			gens[name], _ = strconv.Atoi(c.Labels[labelGen])
		}
	}
	rep := proto.DBReport{DBs: []proto.DBStatus{}}
	m.mu.Lock()
	for name, s := range m.desired {
		st := proto.DBStatus{Name: name, State: proto.DBStarting, HostPort: ports[name], Generation: gens[name]}
		if st.HostPort == 0 {
			st.HostPort = m.ports[s.ID]
		}
		if t := m.state[name]; t != nil {
			st.State, st.Restarts, st.Error, st.LastLog = t.state, t.restarts, t.err, t.lastLog
		}
		rep.DBs = append(rep.DBs, st)
	}
	m.mu.Unlock()
	body, _ := json.Marshal(rep)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "POST", "http://master"+proto.PathDBStatus, bytes.NewReader(body))
	resp, err := m.cfg.Master().Do(req)
	if err != nil {
		return // the master is away; the next report tells it
	}
	resp.Body.Close()
}

// spec returns the desired spec of a database, or an HTTP error.
func (m *Manager) spec(w http.ResponseWriter, name string) (proto.DBSpec, bool) {
	m.mu.Lock()
	s, ok := m.desired[name]
	m.mu.Unlock()
	if !ok {
		http.Error(w, "no database "+name+" on this node", http.StatusNotFound)
	}
	return s, ok
}

func (m *Manager) handleLogs(w http.ResponseWriter, r *http.Request) {
	s, ok := m.spec(w, r.PathValue("db"))
	if !ok {
		return
	}
	tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
	rc, err := m.cfg.Driver.Logs(r.Context(), containerID(s), container.LogOptions{Follow: r.URL.Query().Get("follow") == "1", Tail: tail})
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.Copy(flushWriter{w}, rc) // flushed per write, so followers see lines at once
}

// readyContainer returns a database's container id once it serves, or writes an HTTP error.
func (m *Manager) readyContainer(ctx context.Context, w http.ResponseWriter, s proto.DBSpec) (string, bool) {
	m.mu.Lock()
	t := m.state[s.Name]
	ready := t != nil && t.state == proto.DBReady
	m.mu.Unlock()
	// Just after an agent restart the next pass has not looked yet: ask the server itself.
	if !ready && !m.ready(ctx, containerID(s)) {
		http.Error(w, "database "+s.Name+" is not ready", http.StatusConflict)
		return "", false
	}
	return containerID(s), true
}

func (m *Manager) handleBackup(w http.ResponseWriter, r *http.Request) {
	s, ok := m.spec(w, r.PathValue("db"))
	if !ok {
		return
	}
	l := m.lock(s.Name)
	l.Lock()
	defer l.Unlock()
	id, ok := m.readyContainer(r.Context(), w, s)
	if !ok {
		return
	}
	w.Header().Set("Trailer", proto.TrailerDBResult)
	w.Header().Set("Content-Type", "application/octet-stream")
	var stderr bytes.Buffer
	start := time.Now()
	code, err := m.cfg.Driver.Exec(r.Context(), id, container.ExecSpec{Args: []string{engines.BackupCmd},
		Stdout: flushWriter{w}, Stderr: &limited{&stderr, 8 << 10}})
	result := "ok"
	switch {
	case err != nil:
		result = "backup failed: " + err.Error()
	case code != 0:
		result = fmt.Sprintf("backup failed (exit %d): %s", code, strings.TrimSpace(stderr.String()))
	}
	w.Header().Set(proto.TrailerDBResult, oneLine(result))
	m.log.Info("backup", "db", s.Name, "took", time.Since(start).Round(time.Millisecond), "result", result)
}

func (m *Manager) handleRestore(w http.ResponseWriter, r *http.Request) {
	s, ok := m.spec(w, r.PathValue("db"))
	if !ok {
		return
	}
	e, _ := engines.Get(s.Engine)
	l := m.lock(s.Name)
	l.Lock()
	defer l.Unlock()
	id, ok := m.readyContainer(r.Context(), w, s)
	if !ok {
		return
	}
	var out bytes.Buffer
	lw := &limited{&out, 16 << 10}
	code, err := m.cfg.Driver.Exec(r.Context(), id, container.ExecSpec{Args: []string{engines.RestoreCmd},
		Stdin: r.Body, Stdout: lw, Stderr: lw})
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d: %s", code, strings.TrimSpace(out.String()))
	}
	if err != nil {
		http.Error(w, "restore failed: "+err.Error(), http.StatusUnprocessableEntity)
		return
	}
	if e.RestoreRestarts {
		// The server loads the staged dump as it starts.
		m.setState(s.Name, func(t *tracked) { t.state = proto.DBStarting })
		if err := m.cfg.Driver.Stop(r.Context(), id, 30*time.Second); err != nil {
			http.Error(w, "restart after restore: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if _, err := m.cfg.Driver.Start(r.Context(), id); err != nil {
			http.Error(w, "restart after restore: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	deadline := time.Now().Add(m.cfg.ReadyTimeout)
	for !m.ready(r.Context(), id) {
		if time.Now().After(deadline) || r.Context().Err() != nil {
			http.Error(w, "the database did not come back ready after the restore within "+m.cfg.ReadyTimeout.String(), http.StatusGatewayTimeout)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	m.setState(s.Name, func(t *tracked) { t.state, t.err = proto.DBReady, "" })
	m.log.Info("restored", "db", s.Name)
	w.WriteHeader(http.StatusNoContent)
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// limited keeps the first max bytes written to it and drops the rest.
type limited struct {
	b   *bytes.Buffer
	max int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
