package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

// maxKeptLog bounds the build log kept in the database; the tail is kept.
const maxKeptLog = 1 << 20

// buildLog is a build's output while it runs: appended by the build,
// followed by any number of readers.
type buildLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	done   bool
	notify chan struct{} // closed and replaced on every write
}

func (s *Service) startLog(app string, n int) *buildLog {
	bl := &buildLog{notify: make(chan struct{})}
	s.mu.Lock()
	s.builds[fmt.Sprintf("%s/%d", app, n)] = bl
	s.mu.Unlock()
	return bl
}

func (b *buildLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.notify)
	b.notify = make(chan struct{})
	return len(p), nil
}

func (b *buildLog) printf(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }

func (b *buildLog) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	close(b.notify)
	b.notify = make(chan struct{})
}

// read returns what follows offset, whether the build is done, and a channel
// closed at the next change.
func (b *buildLog) read(off int) ([]byte, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()[min(off, b.buf.Len()):]), b.done, b.notify
}

func (b *buildLog) kept() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > maxKeptLog {
		out = append([]byte("[... earlier output cut ...]\n"), out[len(out)-maxKeptLog:]...)
	}
	return string(out)
}

// BuildLog writes a release's build log to w; with follow, it streams
// until the build ends.
func (s *Service) BuildLog(ctx context.Context, who store.User, name string, n int, follow bool, w io.Writer) error {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	bl := s.builds[fmt.Sprintf("%s/%d", a.Name, n)]
	s.mu.Unlock()
	if bl == nil {
		r, err := s.cfg.Store.Release(ctx, a.Name, n)
		if err != nil {
			return err
		}
		if r.Status == api.ReleaseBuilding && a.Pending != "" {
			_, err = io.WriteString(w, pendingPrefix+": "+a.Pending+"; it is placed and built as soon as a node has room\n")
			return err
		}
		if r.Status == api.ReleaseBuilding {
			// Building, but not in this process: the master restarted mid-build.
			_, err = io.WriteString(w, "==> build failed: the master restarted during the build; run gasper app rebuild "+a.Name+"\n")
			return err
		}
		_, err = io.WriteString(w, r.BuildLog)
		return err
	}
	flusher, _ := w.(http.Flusher)
	off := 0
	for {
		chunk, done, changed := bl.read(off)
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
			off += len(chunk)
			if flusher != nil {
				flusher.Flush()
			}
		}
		if done || !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// build runs one release's build on a node and records the outcome.
func (s *Service) build(app string, r store.Release, bl *buildLog) {
	s.mu.Lock()
	base := s.ctx
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, s.cfg.BuildTimeout)
	defer cancel()
	start := time.Now()
	res, node, err := s.runBuild(ctx, app, &r, bl)
	if nr := (*noRoomError)(nil); errors.As(err, &nr) {
		// Not a failure: the release waits for room, and the scheduler
		// builds it as soon as a node has some.
		bl.printf("%s: %s; it is placed and built as soon as a node has room", pendingPrefix, nr.reason)
		s.setPending(app, nr.reason)
		bl.finish()
		s.mu.Lock()
		delete(s.builds, fmt.Sprintf("%s/%d", app, r.Number))
		s.mu.Unlock()
		return
	}
	if err == nil && !res.OK {
		err = errors.New(res.Error)
	}
	r.BuildMS = time.Since(start).Milliseconds()
	r.BuildNode = node
	if err != nil {
		bl.printf("==> build failed: %s", err)
		r.Status, r.Error = api.ReleaseFailed, err.Error()
	} else {
		bl.printf("==> build succeeded in %s", time.Since(start).Round(100*time.Millisecond))
		now := time.Now()
		r.Status, r.Image, r.Runtime, r.StartCmd, r.Port, r.BuiltAt = api.ReleaseReady, res.Image, res.Runtime, res.StartCmd, res.Port, &now
	}
	r.BuildLog = bl.kept()
	// The outcome must be recorded even when the build's own deadline passed.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := s.cfg.Store.UpdateRelease(wctx, r); err != nil {
		s.log.Error("record build outcome", "app", app, "release", r.Number, "err", err)
	}
	if r.Status == api.ReleaseReady {
		s.markBuilt(node, r.Image)
		a, err := s.update(wctx, app, func(x *store.App) error {
			if r.Number > x.Release { // a slower, older build never replaces a newer release
				x.Release = r.Number
			}
			return nil
		})
		if err == nil {
			s.kickNodes(a) // the other replicas' nodes build it too, then roll
		}
	}
	bl.finish()
	s.mu.Lock()
	delete(s.builds, fmt.Sprintf("%s/%d", app, r.Number))
	s.mu.Unlock()
	s.log.Info("build finished", "app", app, "release", r.Number, "status", r.Status, "node", node, "duration", time.Since(start))
}

func (s *Service) runBuild(ctx context.Context, app string, r *store.Release, bl *buildLog) (proto.BuildResult, string, error) {
	a, err := s.cachedApp(ctx, app)
	if err != nil {
		return proto.BuildResult{}, "", err
	}
	node, err := s.place(ctx, a)
	if err != nil {
		return proto.BuildResult{}, "", err
	}
	return s.buildOn(ctx, a, r, bl, node)
}

// buildOn builds release r of app a on node.
func (s *Service) buildOn(ctx context.Context, a store.App, r *store.Release, bl *buildLog, node api.Node) (proto.BuildResult, string, error) {
	if r.Source == "" {
		bl.printf("==> fetching %s (branch %s)", a.GitURL, orDefault(a.GitBranch, "default"))
		token, err := s.cfg.Box.Open(a.GitToken)
		if err != nil {
			return proto.BuildResult{}, "", err
		}
		hash, err := s.cfg.Sources.FromGit(ctx, a.GitURL, a.GitBranch, string(token), bl)
		if err != nil {
			return proto.BuildResult{}, "", err
		}
		r.Source = hash
	}
	env, err := s.openEnv(r.EnvSealed)
	if err != nil {
		return proto.BuildResult{}, "", err
	}
	if r.Image == "" {
		r.Image = fmt.Sprintf("gasper.local/app/%s:r%d", a.Name, r.Number)
	}
	req := proto.BuildRequest{App: a.Name, Release: r.Number, Source: r.Source, Runtime: a.Config.Runtime,
		BuildCmd: a.Config.BuildCmd, StartCmd: a.Config.StartCmd, Port: a.Config.Port, Env: envList(env),
		Image: r.Image, MemoryBytes: max(a.Config.MemoryBytes, 512<<20), CPUs: a.Config.CPUs}
	bl.printf("==> building release %d of %s on node %s", r.Number, a.Name, node.Hostname)
	release, err := s.buildSlot(ctx, node.ID)
	if err != nil {
		return proto.BuildResult{}, node.ID, fmt.Errorf("waited for a build slot on node %s: %w", node.Hostname, err)
	}
	defer release()
	hc, ok := s.cfg.Tunnel.Client(node.ID)
	if !ok {
		return proto.BuildResult{}, node.ID, fmt.Errorf("node %s is not connected", node.Hostname)
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, "POST", "http://agent"+proto.PathBuild, bytes.NewReader(body))
	if err != nil {
		return proto.BuildResult{}, node.ID, err
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return proto.BuildResult{}, node.ID, fmt.Errorf("ask node %s to build: %w", node.Hostname, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return proto.BuildResult{}, node.ID, fmt.Errorf("node %s refused the build: %s: %s", node.Hostname, resp.Status, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(bl, resp.Body); err != nil {
		return proto.BuildResult{}, node.ID, fmt.Errorf("build log from node %s broke off: %w", node.Hostname, err)
	}
	var res proto.BuildResult
	if err := json.Unmarshal([]byte(resp.Trailer.Get(proto.TrailerBuildResult)), &res); err != nil {
		return proto.BuildResult{}, node.ID, fmt.Errorf("node %s sent no build result (did its agent stop?)", node.Hostname)
	}
	return res, node.ID, nil
}

// buildsPerNode bounds the builds the master asks of one node at once. The
// agent runs a few side by side (--max-builds) and queues the rest; past
// this, the rest wait here, as a goroutine each, rather than as open
// requests with their buffers (a schedule pass may start thousands).
const buildsPerNode = 8

// buildSlot waits for one of a node's build slots; release gives it back.
func (s *Service) buildSlot(ctx context.Context, nodeID string) (release func(), err error) {
	s.mu.Lock()
	slot := s.slots[nodeID]
	if slot == nil {
		slot = make(chan struct{}, buildsPerNode)
		s.slots[nodeID] = slot
	}
	s.mu.Unlock()
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// --- desired state ---

// Desired returns the app specs a node should run.
func (s *Service) Desired(ctx context.Context, nodeID string) ([]proto.AppSpec, error) {
	if err := s.ledger.load(ctx, s); err != nil {
		return nil, err
	}
	specs := []proto.AppSpec{}
	var resolvers []string
	if nodes, err := s.cfg.Nodes.Nodes(ctx); err == nil {
		for _, n := range nodes {
			if n.State == api.NodeReady && n.Connected && slices.Contains(n.Roles, proto.RoleDNS) && net.ParseIP(n.Advertise) != nil {
				resolvers = append(resolvers, n.Advertise)
			}
		}
		sort.Strings(resolvers)
	}
	names := s.ledger.appsOn(nodeID)
	s.mu.Lock()
	keep := map[string]int{}
	for app, byNode := range s.keep {
		keep[app] = byNode[nodeID]
		if keep[app] > 0 && !slices.Contains(names, app) {
			names = append(names, app)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		a, err := s.cachedApp(ctx, name)
		if errors.Is(err, api.ErrNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return nil, err
		}
		// A draining node keeps a replica until its new node runs it.
		count := counts(a.Nodes)[nodeID] + keep[a.Name]
		if count == 0 || a.Release == 0 {
			continue
		}
		r, err := s.release(ctx, a.Name, a.Release)
		if err != nil {
			return nil, err
		}
		if has, _ := s.hasImage(nodeID, a.Name, r.Image); !has {
			// Not built there yet: it runs what it has until then.
			n := s.runningRelease(nodeID, a.Name)
			if n == 0 {
				continue
			}
			if r, err = s.release(ctx, a.Name, n); err != nil {
				return nil, err
			}
		}
		env, err := s.openEnv(r.EnvSealed)
		if err != nil {
			return nil, err
		}
		h := proto.HealthCheck{Type: "http", Path: "/"}
		if a.Config.Health != nil {
			h = proto.HealthCheck{Type: a.Config.Health.Type, Path: a.Config.Health.Path}
		}
		specs = append(specs, proto.AppSpec{App: a.Name, Release: r.Number, Image: r.Image, StartCmd: r.StartCmd,
			Port: r.Port, Env: envList(env), MemoryBytes: a.Config.MemoryBytes, CPUs: a.Config.CPUs,
			Health: h, Generation: a.Generation, Resolvers: resolvers, SearchDomain: s.cfg.Domain, Instances: count})
		if count == 1 {
			specs[len(specs)-1].Instances = 0 // what agents from before replicas expect
		}
	}
	return specs, nil
}

// runningRelease is the newest release of an app a node reports an
// instance of, whose image the node has (0: none).
func (s *Service) runningRelease(nodeID, app string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, in := range s.reports[nodeID].Instances {
		if in.App == app && in.State != proto.InstanceStopping {
			n = max(n, in.Release)
		}
	}
	return n
}

// kickNodes pushes the desired set of every node with a replica of a.
func (s *Service) kickNodes(a store.App) {
	for _, id := range slices.Compact(slices.Sorted(slices.Values(a.Nodes))) {
		s.pusher.Kick(id)
	}
}

// Register adds the routes the master serves to a node's agent.
func (s *Service) Register(mux *http.ServeMux, nodeID string) {
	mux.HandleFunc("GET "+proto.PathSource, func(w http.ResponseWriter, r *http.Request) {
		f, err := s.cfg.Sources.Open(r.PathValue("hash"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/gzip")
		io.Copy(w, f)
	})
	mux.HandleFunc("POST "+proto.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		var rep proto.StatusReport
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&rep); err != nil {
			http.Error(w, "invalid status report: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.Report(nodeID, rep)
		w.WriteHeader(http.StatusNoContent)
	})
}
