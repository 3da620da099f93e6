package apps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gasper/api"
	"gasper/master/nodepush"
	"gasper/master/secrets"
	"gasper/master/store"
	"gasper/proto"
)

// Nodes is what the service needs of the node registry.
type Nodes interface {
	Nodes(ctx context.Context) ([]api.Node, error)
}

// Tunnel is what the service needs of the tunnel: an HTTP client to a node.
type Tunnel interface {
	Client(nodeID string) (*http.Client, bool)
}

// Config configures the service.
type Config struct {
	Store   *store.Store
	Box     *secrets.Box
	Sources *Sources
	Nodes   Nodes
	Tunnel  Tunnel
	// Domain is the cloud domain: app NAME answers at NAME.Domain.
	Domain string
	// DefaultMemory and DefaultCPUs apply to apps that ask for none.
	DefaultMemory int64
	DefaultCPUs   float64
	// DefaultDBMemory and DefaultDBCPUs are what a database that asks for
	// none reserves on its node, for placement.
	DefaultDBMemory int64
	DefaultDBCPUs   float64
	// MinFreeDisk: a node with less free disk takes no new replica.
	MinFreeDisk int64
	// CPUOvercommit: a node takes apps and databases requesting up to its
	// cores times this many CPUs (at least 1; quotas are ceilings, not
	// reservations). An app asking for more CPUs than a node's cores never
	// goes there.
	CPUOvercommit float64
	// ScheduleEvery is how often pending apps and apps on down nodes are
	// looked at (default 1s).
	ScheduleEvery time.Duration
	// BuildTimeout bounds one build, fetch and image build included.
	BuildTimeout time.Duration
	// OnChange, if set, is called when instances change state or address,
	// and when apps change.
	OnChange func()
	// ResyncEvery is how often every node's desired set is pushed again,
	// in case a push was lost.
	ResyncEvery time.Duration
	Logger      *slog.Logger
}

// Service runs apps. Create it with New and start it with Run.
type Service struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // a schedule pass is asked for (Wake)

	mu      sync.Mutex
	ctx     context.Context // lives as long as Run
	builds  map[string]*buildLog
	reports map[string]proto.StatusReport // by node id
	pusher  *nodepush.Pusher

	placeMu  sync.Mutex                // one placement at a time, so two never take the same room
	ledger   ledger                    // what apps reserve on each node
	keep     map[string]map[string]int // app -> node -> replicas a draining node keeps until their new node runs them
	building map[string]bool           // "node image": a replica's image builds there
	retry    map[string]backoff        // "node image": its last build failed
	built    map[string]time.Time      // "node image" -> when this master saw it built there (until reports say)
	images   map[string]string         // "app/release" -> image, of ready releases
	slots    map[string]chan struct{}  // node -> its builds in flight (buildSlot)
	down     string                    // the down nodes at the last schedule, to notice changes
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BuildTimeout == 0 {
		cfg.BuildTimeout = 20 * time.Minute
	}
	if cfg.ResyncEvery == 0 {
		cfg.ResyncEvery = 30 * time.Second
	}
	if cfg.ScheduleEvery == 0 {
		cfg.ScheduleEvery = time.Second
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "apps"), ctx: context.Background(), wake: make(chan struct{}, 1),
		builds: map[string]*buildLog{}, reports: map[string]proto.StatusReport{},
		keep: map[string]map[string]int{}, building: map[string]bool{}, retry: map[string]backoff{}, built: map[string]time.Time{}, images: map[string]string{}, slots: map[string]chan struct{}{}}
	s.pusher = nodepush.New(nodepush.Config{What: "apps", Path: proto.PathApps, Tunnel: cfg.Tunnel, Logger: s.log,
		Desired: func(ctx context.Context, nodeID string) (any, error) { return s.Desired(ctx, nodeID) },
		Query:   s.pushQuery})
	return s
}

// pushQuery tells the agent of a node that is not ready (down, or returning
// after a partition or a restart) that no route has its instances, so those
// that leave, such as the apps that moved away while it was gone, stop at
// once instead of after the drain meant for the proxies.
func (s *Service) pushQuery(ctx context.Context, nodeID string) string {
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return ""
	}
	for _, n := range ns {
		if n.ID == nodeID && n.State != api.NodeReady {
			return proto.QueryUnrouted + "=1"
		}
	}
	return ""
}

// Run pushes every node's desired set periodically, and places pending apps
// and the apps of down nodes, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.pusher.Start(ctx)
	t := time.NewTicker(s.cfg.ResyncEvery)
	defer t.Stop()
	sched := time.NewTicker(s.cfg.ScheduleEvery)
	defer sched.Stop()
	s.kickAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.kickAll(ctx)
		case <-sched.C:
			s.schedule(ctx)
		case <-s.wake:
			// Node changes come in bursts (nodes uncordoned one after the
			// other, a node down with its tunnel): one pass after the burst.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wakeSettle):
			}
			select {
			case <-s.wake:
			default:
			}
			s.schedule(ctx)
			sched.Reset(s.cfg.ScheduleEvery)
		}
	}
}

// wakeSettle is how long a pass asked for by Wake waits for more changes.
const wakeSettle = 50 * time.Millisecond

// Wake asks for a schedule pass now rather than at the next tick: a node
// changed (it is ready, down, uncordoned), so apps may be placed or moved.
// It does not block; it may be called on a nil Service (before it exists).
func (s *Service) Wake() {
	if s == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) kickAll(ctx context.Context) {
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return
	}
	for _, n := range ns {
		if n.Connected && slices.Contains(n.Roles, proto.RoleApp) {
			s.pusher.Kick(n.ID)
		}
	}
}

// NodeConnected pushes an app node's desired set as soon as its tunnel is
// up. Nodes without the app role run no apps and get nothing.
func (s *Service) NodeConnected(nodeID string, facts proto.Facts) {
	if slices.Contains(facts.Roles, proto.RoleApp) {
		s.pusher.Kick(nodeID)
	}
}

// NodeReady pushes the desired set of a node that has just become ready
// again: the push tells its agent that its instances are routed again, so
// those that leave from now on drain first. Nodes without the app role get
// nothing.
func (s *Service) NodeReady(ctx context.Context, nodeID string) {
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return // the periodic push tells it
	}
	for _, n := range ns {
		if n.ID == nodeID && slices.Contains(n.Roles, proto.RoleApp) {
			s.pusher.Kick(nodeID)
		}
	}
}

// --- access ---

// app returns the app if who may see it; to anyone else it does not exist.
func (s *Service) app(ctx context.Context, who store.User, name string) (store.App, error) {
	if err := api.ValidName("app", name); err != nil {
		return store.App{}, err
	}
	a, err := s.cachedApp(ctx, name)
	if err == nil && a.OwnerID != who.ID && !who.Admin {
		err = api.Errorf(api.CodeNotFound, "app %s not found", name)
	}
	return a, err
}

// --- reads ---

// List returns who's apps (admins: all).
func (s *Service) List(ctx context.Context, who store.User) ([]api.App, error) {
	owner := who.ID
	if who.Admin {
		owner = ""
	}
	as, err := s.cachedApps(ctx, owner)
	if err != nil {
		return nil, err
	}
	sn, err := s.snapshot(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]api.App, 0, len(as))
	for _, a := range as {
		v, err := s.view(ctx, a, sn)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns one app, with the scheduler's last decision about it.
func (s *Service) Get(ctx context.Context, who store.User, name string) (api.App, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.App{}, err
	}
	v, err := s.viewOne(ctx, a)
	if err != nil {
		return api.App{}, err
	}
	e, ok, err := s.cfg.Store.LastAudit(ctx, a.Name, "app.place", "app.pending", "app.move.failed")
	if ok {
		v.Placement = e.Time.UTC().Format(time.RFC3339) + " " + e.Action + " " + e.Detail
	}
	return v, err
}

// Env returns an app's environment.
func (s *Service) Env(ctx context.Context, who store.User, name string) (map[string]string, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return nil, err
	}
	return s.openEnv(a.EnvSealed)
}

// Releases lists an app's releases, newest first.
func (s *Service) Releases(ctx context.Context, who store.User, name string) ([]api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return nil, err
	}
	rs, err := s.cfg.Store.Releases(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	out := make([]api.Release, 0, len(rs))
	for _, r := range rs {
		r.Current = r.Number == a.Release
		out = append(out, r.Release)
	}
	return out, nil
}

// Release returns one release.
func (s *Service) Release(ctx context.Context, who store.User, name string, n int) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	r, err := s.cfg.Store.Release(ctx, a.Name, n)
	r.Current = r.Number == a.Release
	return r.Release, err
}

// snapshot is what the views of apps share, read once for a whole list:
// per app, each view used to read every node, domain and release, and walk
// every instance of the cluster.
type snapshot struct {
	emails    map[string]string // user id -> email
	doms      map[string][]string
	byID      map[string]api.Node
	instances map[string][]api.Instance // app -> instances on serving nodes
	newest    map[string]store.Release  // app -> newest release, without its build log
}

// snapshot reads what the views of apps share: of every app, or only of
// one (a, when it is not nil).
func (s *Service) snapshot(ctx context.Context, a *store.App) (*snapshot, error) {
	sn := &snapshot{emails: map[string]string{}, instances: map[string][]api.Instance{}, newest: map[string]store.Release{}}
	var err error
	if a == nil {
		users, err := s.cfg.Store.Users(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			sn.emails[u.ID] = u.Email
		}
		if sn.newest, err = s.cfg.Store.NewestReleases(ctx); err != nil {
			return nil, err
		}
	} else {
		owner, err := s.cfg.Store.User(ctx, a.OwnerID)
		if err != nil {
			return nil, err
		}
		sn.emails[owner.ID] = owner.Email
		r, err := s.cfg.Store.LatestRelease(ctx, a.Name)
		if err == nil {
			sn.newest[a.Name] = r
		} else if !errors.Is(err, api.ErrNotFound) {
			return nil, err
		}
	}
	if sn.doms, err = s.cfg.Store.Domains(ctx); err != nil {
		return nil, err
	}
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	sn.byID = nodeMap(nodes)
	s.mu.Lock()
	for nodeID, rep := range s.reports {
		if !serving(sn.byID, nodeID) {
			continue
		}
		for _, in := range rep.Instances {
			if a != nil && in.App != a.Name {
				continue
			}
			var started *time.Time
			if !in.StartedAt.IsZero() {
				t := in.StartedAt
				started = &t
			}
			sn.instances[in.App] = append(sn.instances[in.App], api.Instance{ID: in.ID, Node: nodeID, NodeName: sn.byID[nodeID].Hostname,
				Address: in.Address, Release: in.Release, State: in.State, Restarts: in.Restarts, ExitCode: in.ExitCode,
				OOMKilled: in.OOMKilled, StartedAt: started, LastLog: in.LastLog})
		}
	}
	s.mu.Unlock()
	return sn, nil
}

// viewOne is the view of one app.
func (s *Service) viewOne(ctx context.Context, a store.App) (api.App, error) {
	sn, err := s.snapshot(ctx, &a)
	if err != nil {
		return api.App{}, err
	}
	return s.view(ctx, a, sn)
}

func (s *Service) view(ctx context.Context, a store.App, sn *snapshot) (api.App, error) {
	env, err := s.openEnv(a.EnvSealed)
	if err != nil {
		return api.App{}, err
	}
	v := api.App{Name: a.Name, Owner: sn.emails[a.OwnerID], Config: a.Config, Release: a.Release,
		EnvNames: append([]string{}, slices.Sorted(maps.Keys(env))...), Instances: []api.Instance{}, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	v.Domains = append([]string{}, sn.doms[a.Name]...)
	scheme := "https://"
	for _, host := range append([]string{a.Name + "." + s.cfg.Domain}, v.Domains...) {
		v.URLs = append(v.URLs, scheme+host)
	}
	if a.GitURL != "" {
		v.Git = &api.GitSource{URL: a.GitURL, Branch: a.GitBranch, HasToken: len(a.GitToken) > 0}
	}
	v.Replicas, v.Nodes = a.Replicas, append([]string{}, a.Nodes...)
	if n, ok := sn.byID[a.FirstNode()]; ok {
		v.Node, v.NodeName = n.ID, n.Hostname
	}
	v.Instances = append(v.Instances, sn.instances[a.Name]...)
	// APP.N in ssh names the Nth instance of this order: by node name, then id.
	sort.Slice(v.Instances, func(i, j int) bool {
		x, y := v.Instances[i], v.Instances[j]
		if x.NodeName != y.NodeName {
			return x.NodeName < y.NodeName
		}
		return x.ID < y.ID
	})
	var latest *store.Release
	if r, ok := sn.newest[a.Name]; ok {
		latest = &r
	}
	if a.Release > 0 {
		if latest != nil && latest.Number == a.Release {
			v.Runtime = latest.Runtime
		} else if r, err := s.release(ctx, a.Name, a.Release); err == nil {
			v.Runtime = r.Runtime
		}
	}
	v.Status, v.StatusReason = status(a, latest, v.Instances, sn.byID[a.FirstNode()])
	for _, in := range v.Instances {
		if in.Release == a.Release && in.State == proto.InstanceHealthy {
			if v.Address == "" {
				v.Address = in.Address
			}
			v.Running++
		}
	}
	return v, nil
}

// status derives an app's status from its releases and instances.
func status(a store.App, latest *store.Release, insts []api.Instance, node api.Node) (string, string) {
	st, reason := status1(a, latest, insts, node)
	if a.Pending != "" && st != api.AppPending && st != api.AppStopped {
		// Some replicas run, the others wait for room.
		reason = strings.TrimPrefix(a.Pending+"; "+reason, "; ")
		reason = strings.TrimSuffix(reason, "; ")
	}
	return st, reason
}

func status1(a store.App, latest *store.Release, insts []api.Instance, node api.Node) (string, string) {
	if a.Pending != "" && len(a.Nodes) == 0 && a.Replicas > 0 {
		return api.AppPending, a.Pending
	}
	building := latest != nil && latest.Status == api.ReleaseBuilding
	if a.Replicas == 0 && a.Release > 0 {
		return api.AppStopped, "scaled to 0 replicas: run it with gasper app scale " + a.Name + " 1"
	}
	if a.Release == 0 {
		switch {
		case building:
			return api.AppBuilding, fmt.Sprintf("release %d is building", latest.Number)
		case latest != nil && latest.Status == api.ReleaseFailed:
			return api.AppFailed, fmt.Sprintf("release %d failed: %s", latest.Number, latest.Error)
		}
		return api.AppCreated, "no release yet: deploy with gasper app deploy " + a.Name + " --from DIR"
	}
	var healthy, crash, oom, starting int
	var last api.Instance
	for _, in := range insts {
		if in.Release != a.Release {
			continue
		}
		if in.State == proto.InstanceStopping {
			continue // leaving: scaled down or replaced
		}
		last = in
		switch in.State {
		case proto.InstanceHealthy:
			healthy++
		case proto.InstanceCrashLoop:
			crash++
		case proto.InstanceOOM:
			oom++
		default:
			starting++
		}
	}
	reason := ""
	if building {
		reason = fmt.Sprintf("release %d is building", latest.Number)
	} else if latest != nil && latest.Status == api.ReleaseFailed && latest.Number > a.Release {
		reason = fmt.Sprintf("release %d failed (%s); release %d keeps serving", latest.Number, latest.Error, a.Release)
	}
	switch {
	case healthy > 0 && crash+oom+starting == 0 && healthy < len(a.Nodes):
		return api.AppDeploying, strings.TrimSuffix(fmt.Sprintf("%d of %d replicas running; %s", healthy, len(a.Nodes), reason), "; ")
	case healthy > 0 && crash+oom+starting == 0:
		return api.AppRunning, reason
	case oom > 0:
		return api.AppOOM, fmt.Sprintf("killed for exceeding its memory limit (%d MiB)", a.Config.MemoryBytes>>20)
	case crash > 0:
		return api.AppCrashLoop, fmt.Sprintf("the process keeps exiting (last exit code %d); restarting with backoff", last.ExitCode)
	case healthy > 0:
		return api.AppDeploying, "some instances are not healthy yet"
	case len(a.Nodes) == 0:
		return api.AppPending, "no node runs it"
	case node.State != api.NodeReady && a.Pending != "":
		return api.AppPending, a.Pending // why it waits there: no other node has room
	case node.State != api.NodeReady:
		return api.AppPending, fmt.Sprintf("its node %s is %s", node.Hostname, node.State)
	}
	return api.AppDeploying, fmt.Sprintf("release %d is starting", a.Release)
}

// --- changes ---

// Create adds an app. A git app's first release starts building at once.
func (s *Service) Create(ctx context.Context, who store.User, req api.CreateAppRequest) (api.App, error) {
	if err := api.ValidName("app", req.Name); err != nil {
		return api.App{}, err
	}
	cfg, err := s.checkConfig(req.AppConfig)
	if err != nil {
		return api.App{}, err
	}
	env := req.Env
	if env == nil {
		env = map[string]string{}
	}
	if err := checkEnv(env); err != nil {
		return api.App{}, err
	}
	a := store.App{Name: req.Name, OwnerID: who.ID, Config: cfg, Replicas: 1}
	if req.Replicas != nil {
		if *req.Replicas < 0 || *req.Replicas > MaxReplicas {
			return api.App{}, api.Errorf(api.CodeBadRequest, "replicas %d is out of range: use 0 to %d", *req.Replicas, MaxReplicas)
		}
		a.Replicas = *req.Replicas
	}
	if a.EnvSealed, err = s.sealEnv(env); err != nil {
		return api.App{}, err
	}
	if req.Git != nil {
		if err := validGitURL(req.Git.URL); err != nil {
			return api.App{}, err
		}
		if req.Git.Branch != "" && (strings.HasPrefix(req.Git.Branch, "-") || strings.ContainsAny(req.Git.Branch, " \n\t:~^?*[\\")) {
			return api.App{}, api.Errorf(api.CodeBadRequest, "git branch %q is not a valid branch name", req.Git.Branch)
		}
		a.GitURL, a.GitBranch = req.Git.URL, req.Git.Branch
		if req.Git.Token != "" {
			a.GitToken = s.cfg.Box.Seal([]byte(req.Git.Token))
		}
	}
	if err := s.insert(ctx, a); err != nil {
		return api.App{}, err
	}
	s.audit(ctx, who, "app.create", a.Name, fmt.Sprintf("replicas %d", a.Replicas))
	if a.GitURL != "" {
		if _, err := s.deploy(ctx, a, "", "git"); err != nil {
			return api.App{}, err
		}
	}
	return s.Get(ctx, who, a.Name)
}

func (s *Service) checkConfig(c api.AppConfig) (api.AppConfig, error) {
	if c.Runtime != "" && !slices.Contains(api.Runtimes, c.Runtime) {
		return c, api.Errorf(api.CodeBadRequest, "runtime %q is not known: use one of %s, or leave it out to detect it", c.Runtime, strings.Join(api.Runtimes, ", "))
	}
	if c.Port < 0 || c.Port > 65535 {
		return c, api.Errorf(api.CodeBadRequest, "port %d is out of range 1-65535", c.Port)
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = s.cfg.DefaultMemory
	}
	if c.MemoryBytes < 16<<20 || c.MemoryBytes > 1<<40 {
		return c, api.Errorf(api.CodeBadRequest, "memory %d bytes is out of range: use 16M to 1T", c.MemoryBytes)
	}
	if c.CPUs == 0 {
		c.CPUs = s.cfg.DefaultCPUs
	}
	if c.CPUs < 0.01 || c.CPUs > 256 {
		return c, api.Errorf(api.CodeBadRequest, "cpu %g is out of range: use 0.01 to 256", c.CPUs)
	}
	if len(c.BuildCmd) > 4096 || len(c.StartCmd) > 4096 {
		return c, api.Errorf(api.CodeBadRequest, "build and start commands must be at most 4096 bytes")
	}
	if c.Health == nil {
		c.Health = &api.HealthCheck{Type: "http", Path: "/"}
	}
	switch c.Health.Type {
	case "", "http":
		c.Health.Type = "http"
		if c.Health.Path == "" {
			c.Health.Path = "/"
		}
		if !strings.HasPrefix(c.Health.Path, "/") || strings.ContainsAny(c.Health.Path, " \n\r") {
			return c, api.Errorf(api.CodeBadRequest, "health path %q must start with /", c.Health.Path)
		}
	case "tcp":
		c.Health.Path = ""
	default:
		return c, api.Errorf(api.CodeBadRequest, "health check type %q: use http or tcp", c.Health.Type)
	}
	return c, nil
}

func checkEnv(env map[string]string) error {
	for k, v := range env {
		if err := api.ValidEnvName(k); err != nil {
			return err
		}
		if k == "PORT" {
			return api.Errorf(api.CodeBadRequest, "PORT is set by Gasper to the app's port: change the port with --port")
		}
		if strings.ContainsRune(v, 0) || len(v) > 32<<10 {
			return api.Errorf(api.CodeBadRequest, "value of %s must be text of at most 32 KiB", k)
		}
	}
	return nil
}

// UploadSource stores a source archive and deploys it as a new release.
func (s *Service) UploadSource(ctx context.Context, who store.User, name string, r io.Reader) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	hash, err := s.cfg.Sources.Put(r)
	if err != nil {
		return api.Release{}, err
	}
	s.audit(ctx, who, "app.deploy", a.Name, "source "+hash[:12])
	return s.deploy(ctx, a, hash, "deploy")
}

// Rebuild builds the current source again (git apps fetch their branch).
func (s *Service) Rebuild(ctx context.Context, who store.User, name string) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	source := ""
	if a.GitURL == "" {
		rs, err := s.cfg.Store.Releases(ctx, a.Name)
		if err != nil {
			return api.Release{}, err
		}
		for _, r := range rs { // the current release's source, else the newest with one
			if r.Source != "" && (r.Number == a.Release || source == "") {
				source = r.Source
			}
		}
		if source == "" {
			return api.Release{}, api.Errorf(api.CodeConflict, "app %s has no source yet: deploy with gasper app deploy %s --from DIR", a.Name, a.Name)
		}
	}
	s.audit(ctx, who, "app.rebuild", a.Name, "")
	return s.deploy(ctx, a, source, "rebuild")
}

// deploy creates a building release and starts its build in the background.
// An empty source means fetching the app's git branch first.
func (s *Service) deploy(ctx context.Context, a store.App, source, cause string) (api.Release, error) {
	if a.Pending != "" {
		s.supersedeWaiting(ctx, a.Name)
	}
	r, err := s.cfg.Store.CreateRelease(ctx, store.Release{Release: api.Release{App: a.Name, Status: api.ReleaseBuilding,
		Cause: cause, Source: source, Runtime: a.Config.Runtime}, EnvSealed: a.EnvSealed})
	if err != nil {
		return api.Release{}, err
	}
	bl := s.startLog(a.Name, r.Number)
	go s.build(a.Name, r, bl)
	return r.Release, nil
}

// Rollback makes a new release from an earlier ready one, without a build.
func (s *Service) Rollback(ctx context.Context, who store.User, name string, to int) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	if a.Release == 0 {
		return api.Release{}, api.Errorf(api.CodeConflict, "app %s has no release to roll back from", a.Name)
	}
	if to == 0 {
		rs, err := s.cfg.Store.Releases(ctx, a.Name)
		if err != nil {
			return api.Release{}, err
		}
		for _, r := range rs {
			if r.Number < a.Release && r.Status == api.ReleaseReady {
				to = r.Number
				break
			}
		}
		if to == 0 {
			return api.Release{}, api.Errorf(api.CodeConflict, "app %s has no earlier ready release", a.Name)
		}
	}
	old, err := s.cfg.Store.Release(ctx, a.Name, to)
	if err != nil {
		return api.Release{}, err
	}
	if old.Status != api.ReleaseReady {
		return api.Release{}, api.Errorf(api.CodeConflict, "release %d of %s is %s: only a ready release can be rolled back to", to, a.Name, old.Status)
	}
	r, err := s.copyRelease(ctx, a, old, fmt.Sprintf("rollback to %d", to), old.EnvSealed)
	if err != nil {
		return api.Release{}, err
	}
	s.audit(ctx, who, "app.rollback", a.Name, fmt.Sprintf("to %d as %d", to, r.Number))
	return r, nil
}

// copyRelease makes a ready release from another's image with the given env,
// makes it current and rolls it out.
func (s *Service) copyRelease(ctx context.Context, a store.App, from store.Release, cause string, env []byte) (api.Release, error) {
	now := time.Now()
	r, err := s.cfg.Store.CreateRelease(ctx, store.Release{Release: api.Release{App: a.Name, Status: api.ReleaseReady,
		Cause: cause, Source: from.Source, Runtime: from.Runtime, Image: from.Image, BuildNode: from.BuildNode, BuiltAt: &now},
		StartCmd: from.StartCmd, Port: from.Port, EnvSealed: env})
	if err != nil {
		return api.Release{}, err
	}
	if _, err := s.update(ctx, a.Name, func(x *store.App) error { x.Release = r.Number; return nil }); err != nil {
		return api.Release{}, err
	}
	s.kickNodes(a)
	r.Current = true
	return r.Release, nil
}

// SetEnv changes an app's environment and rolls out a release with it.
func (s *Service) SetEnv(ctx context.Context, who store.User, name string, req api.EnvRequest) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	if err := checkEnv(req.Set); err != nil {
		return api.Release{}, err
	}
	env, err := s.openEnv(a.EnvSealed)
	if err != nil {
		return api.Release{}, err
	}
	for k, v := range req.Set {
		env[k] = v
	}
	for _, k := range req.Unset {
		if err := api.ValidEnvName(k); err != nil {
			return api.Release{}, err
		}
		delete(env, k)
	}
	sealed, err := s.sealEnv(env)
	if err != nil {
		return api.Release{}, err
	}
	a, err = s.update(ctx, a.Name, func(x *store.App) error { x.EnvSealed = sealed; return nil })
	if err != nil {
		return api.Release{}, err
	}
	var names []string
	for k := range req.Set {
		names = append(names, "+"+k)
	}
	for _, k := range req.Unset {
		names = append(names, "-"+k)
	}
	sort.Strings(names)
	s.audit(ctx, who, "app.env", a.Name, strings.Join(names, " ")) // names only: values may be secrets
	if a.Release == 0 {
		return api.Release{App: a.Name, Status: api.ReleaseReady, Cause: "env (no release yet)"}, nil
	}
	cur, err := s.cfg.Store.Release(ctx, a.Name, a.Release)
	if err != nil {
		return api.Release{}, err
	}
	return s.copyRelease(ctx, a, cur, "env "+strings.Join(names, " "), sealed)
}

// Update changes an app's config: build settings trigger a rebuild, the
// rest rolls out the current image again.
func (s *Service) Update(ctx context.Context, who store.User, name string, req api.UpdateAppRequest) (api.Release, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.Release{}, err
	}
	next := a.Config
	c := req.AppConfig
	rebuild := false
	if c.Runtime != "" && c.Runtime != next.Runtime {
		next.Runtime, rebuild = c.Runtime, true
	}
	if c.BuildCmd != "" && c.BuildCmd != next.BuildCmd {
		next.BuildCmd, rebuild = c.BuildCmd, true
	}
	if c.StartCmd != "" {
		next.StartCmd = c.StartCmd
	}
	if c.Port != 0 {
		next.Port = c.Port
	}
	if c.MemoryBytes != 0 {
		next.MemoryBytes = c.MemoryBytes
	}
	if c.CPUs != 0 {
		next.CPUs = c.CPUs
	}
	if c.Health != nil {
		next.Health = c.Health
	}
	if req.RedirectHTTPS != nil {
		next.RedirectHTTPS = *req.RedirectHTTPS
	}
	if next, err = s.checkConfig(next); err != nil {
		return api.Release{}, err
	}
	if a, err = s.update(ctx, a.Name, func(x *store.App) error { x.Config = next; return nil }); err != nil {
		return api.Release{}, err
	}
	s.audit(ctx, who, "app.update", a.Name, "")
	if rebuild || a.Release == 0 {
		return s.Rebuild(ctx, who, name)
	}
	cur, err := s.cfg.Store.Release(ctx, a.Name, a.Release)
	if err != nil {
		return api.Release{}, err
	}
	if next.StartCmd != "" {
		cur.StartCmd = next.StartCmd
	}
	if next.Port != 0 {
		cur.Port = next.Port
	}
	return s.copyRelease(ctx, a, cur, "config", cur.EnvSealed)
}

// Restart replaces the app's instances with fresh ones.
func (s *Service) Restart(ctx context.Context, who store.User, name string) error {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return err
	}
	if a.Release == 0 {
		return api.Errorf(api.CodeConflict, "app %s has no release to restart", a.Name)
	}
	if _, err := s.update(ctx, a.Name, func(x *store.App) error { x.Generation++; return nil }); err != nil {
		return err
	}
	s.audit(ctx, who, "app.restart", a.Name, "")
	s.kickNodes(a)
	return nil
}

// Delete removes an app: its node is told to remove its containers and
// images, and its unused source archives are deleted.
func (s *Service) Delete(ctx context.Context, who store.User, name string) error {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Store.Releases(ctx, a.Name)
	if err != nil {
		return err
	}
	if err := s.forget(ctx, a.Name); err != nil {
		return err
	}
	for _, r := range rs {
		if inUse, err := s.cfg.Store.SourceInUse(ctx, r.Source); err == nil && !inUse && r.Source != "" {
			s.cfg.Sources.Remove(r.Source)
		}
	}
	s.audit(ctx, who, "app.delete", a.Name, "")
	s.kickAll(ctx)
	return nil
}

// Logs streams an app's logs from its node to w.
func (s *Service) Logs(ctx context.Context, who store.User, name string, follow bool, tail int, w io.Writer) error {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return err
	}
	if a.FirstNode() == "" {
		return api.Errorf(api.CodeConflict, "app %s has not run anywhere yet, so it has no logs", a.Name)
	}
	hc, ok := s.cfg.Tunnel.Client(a.FirstNode())
	if !ok {
		return api.Errorf(api.CodeUnavailable, "the node of app %s is not connected", a.Name)
	}
	q := url.Values{"tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://agent"+strings.Replace(proto.PathAppLogs, "{app}", a.Name, 1)+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return api.Errorf(api.CodeUnavailable, "read logs from the node: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return api.Errorf(api.CodeUnavailable, "the node answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	_, err = copyFlush(w, resp.Body)
	return err
}

// AddDomain gives an app a custom domain.
func (s *Service) AddDomain(ctx context.Context, who store.User, name, domain string) (api.App, error) {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.App{}, err
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if err := api.ValidDomain(domain); err != nil {
		return api.App{}, err
	}
	if domain == s.cfg.Domain || strings.HasSuffix(domain, "."+s.cfg.Domain) {
		return api.App{}, api.Errorf(api.CodeBadRequest, "%s is inside the cloud domain %s, whose names belong to apps: choose a name outside it", domain, s.cfg.Domain)
	}
	if err := s.cfg.Store.AddDomain(ctx, a.Name, domain); err != nil {
		return api.App{}, err
	}
	s.audit(ctx, who, "app.domain.add", a.Name, domain)
	return s.viewOne(ctx, a)
}

// RemoveDomain takes a custom domain from an app.
func (s *Service) RemoveDomain(ctx context.Context, who store.User, name, domain string) error {
	a, err := s.app(ctx, who, name)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveDomain(ctx, a.Name, strings.ToLower(domain)); err != nil {
		return err
	}
	s.audit(ctx, who, "app.domain.remove", a.Name, domain)
	return nil
}

// Routes returns every app's route: its host names and the addresses of its
// healthy instances. Instances of the current release win; while it has
// none healthy, healthy instances of earlier releases keep serving.
func (s *Service) Routes(ctx context.Context) ([]proto.Route, error) {
	as, err := s.cachedApps(ctx, "")
	if err != nil {
		return nil, err
	}
	doms, err := s.cfg.Store.Domains(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]api.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	type pick struct{ current, other []string }
	backends := map[string]*pick{}
	release := map[string]int{}
	for _, a := range as {
		release[a.Name] = a.Release
		backends[a.Name] = &pick{}
	}
	s.mu.Lock()
	for nodeID, rep := range s.reports {
		if !serving(byID, nodeID) {
			continue
		}
		for _, in := range rep.Instances {
			p := backends[in.App]
			if p == nil || in.State != proto.InstanceHealthy || in.Address == "" {
				continue
			}
			if in.Release == release[in.App] {
				p.current = append(p.current, in.Address)
			} else {
				p.other = append(p.other, in.Address)
			}
		}
	}
	s.mu.Unlock()
	out := make([]proto.Route, 0, len(as))
	for _, a := range as {
		b := backends[a.Name].current
		if len(b) == 0 {
			b = backends[a.Name].other
		}
		sort.Strings(b)
		// The bare name too: inside the cluster, containers reach http://NAME/
		// through their search domain, and their Host header is then NAME.
		hosts := append([]string{a.Name + "." + s.cfg.Domain, a.Name}, doms[a.Name]...)
		out = append(out, proto.Route{App: a.Name, Hosts: hosts, Backends: append([]string{}, b...), RedirectHTTPS: a.Config.RedirectHTTPS})
	}
	return out, nil
}

// Report takes a node's status report; a change of any instance's state or
// address calls Config.OnChange (the router recomputes routes at once).
func (s *Service) Report(nodeID string, rep proto.StatusReport) {
	s.mu.Lock()
	changed := !sameInstances(s.reports[nodeID], rep)
	s.reports[nodeID] = rep
	// Once the node reports an image it built, its reports are the truth:
	// when it lets the image go, the next report says so.
	for _, imgs := range rep.Images {
		for _, img := range imgs {
			delete(s.built, nodeID+" "+img)
		}
	}
	for k, at := range s.built {
		if time.Since(at) >= builtFresh {
			delete(s.built, k)
		}
	}
	s.mu.Unlock()
	if changed && s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}

func sameInstances(a, b proto.StatusReport) bool {
	if len(a.Instances) != len(b.Instances) {
		return false
	}
	for i := range a.Instances {
		x, y := a.Instances[i], b.Instances[i]
		if x.ID != y.ID || x.State != y.State || x.Address != y.Address || x.Release != y.Release {
			return false
		}
	}
	return true
}

func (s *Service) audit(ctx context.Context, who store.User, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, who.Email, action, target, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}

func (s *Service) sealEnv(env map[string]string) ([]byte, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return s.cfg.Box.Seal(b), nil
}

func (s *Service) openEnv(sealed []byte) (map[string]string, error) {
	env := map[string]string{}
	b, err := s.cfg.Box.Open(sealed)
	if err != nil || len(b) == 0 {
		return env, err
	}
	return env, json.Unmarshal(b, &env)
}

// copyFlush copies and flushes after every read, for streaming responses.
func copyFlush(w io.Writer, r io.Reader) (int64, error) {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
			if f != nil {
				f.Flush()
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
