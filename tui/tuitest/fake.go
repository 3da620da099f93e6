package tuitest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gasper/api"
	"gasper/tui"
)

var _ tui.Client = (*Fake)(nil)

// Fake is an in-memory master for the dashboard's tests. It answers as the
// real master does (the same errors for the same mistakes, checked by
// Contract), builds instantly, and records the actions it was asked for.
// Who calls it is fixed at creation: one Fake is one user's client.
type Fake struct {
	mu    *sync.Mutex
	state *fakeState
	me    api.User
}

// fakeState is what the users of one fake master share.
type fakeState struct {
	now     func() time.Time
	domain  string
	seq     int
	users   []api.User
	apps    map[string]*api.App
	rels    map[string][]api.Release
	dbs     map[string]*api.Database
	nodes   []api.Node
	logs    map[string][]string
	waiters map[string][]chan struct{}
	calls   []string
}

// NewFake returns a fake master with one admin, and its client.
func NewFake(adminEmail string, now func() time.Time) *Fake {
	if now == nil {
		now = time.Now
	}
	st := &fakeState{now: now, domain: "apps.example.com", apps: map[string]*api.App{}, rels: map[string][]api.Release{},
		dbs: map[string]*api.Database{}, logs: map[string][]string{}, waiters: map[string][]chan struct{}{}}
	admin := api.User{ID: "u1", Email: adminEmail, Admin: true, CreatedAt: now().Add(-72 * time.Hour)}
	st.users = append(st.users, admin)
	st.seq = 1
	return &Fake{mu: &sync.Mutex{}, state: st, me: admin}
}

// AddUser adds a user and returns that user's client of the same master.
func (f *Fake) AddUser(email string, admin bool) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.seq++
	u := api.User{ID: fmt.Sprintf("u%d", f.state.seq), Email: email, Admin: admin, CreatedAt: f.state.now().Add(-24 * time.Hour)}
	f.state.users = append(f.state.users, u)
	return &Fake{mu: f.mu, state: f.state, me: u}
}

// PutApp stores an app as given (tests set up screens with it).
func (f *Fake) PutApp(a api.App, releases ...api.Release) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.Owner == "" {
		a.Owner = f.me.Email
	}
	if a.Replicas == 0 && a.Status != api.AppStopped {
		a.Replicas = 1 // as the master makes them
	}
	if a.Running == 0 {
		for _, in := range a.Instances {
			if in.Release == a.Release && in.State == "healthy" {
				a.Running++
			}
		}
	}
	f.state.apps[a.Name] = &a
	f.state.rels[a.Name] = releases
}

// PutDatabase stores a database as given.
func (f *Fake) PutDatabase(d api.Database) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Owner == "" {
		d.Owner = f.me.Email
	}
	f.state.dbs[d.Name] = &d
}

// PutNode stores a node as given.
func (f *Fake) PutNode(n api.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.nodes = append(f.state.nodes, n)
}

// Print appends lines to an app's logs; followers get them at once.
func (f *Fake) Print(app string, lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state.logs[app] = append(f.state.logs[app], lines...)
	for _, w := range f.state.waiters[app] {
		close(w)
	}
	delete(f.state.waiters, app)
}

// Calls lists the changes asked for, in order, like "restart web".
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.state.calls)
}

func (f *Fake) record(format string, args ...any) {
	f.state.calls = append(f.state.calls, fmt.Sprintf(format, args...))
}

// app returns an app the caller may see, as the master's lookup does.
func (f *Fake) app(name string) (*api.App, error) {
	if err := api.ValidName("app", name); err != nil {
		return nil, err
	}
	a, ok := f.state.apps[name]
	if !ok || (a.Owner != f.me.Email && !f.me.Admin) {
		return nil, api.Errorf(api.CodeNotFound, "app %s not found", name)
	}
	return a, nil
}

func (f *Fake) db(name string) (*api.Database, error) {
	if err := api.ValidName("database", name); err != nil {
		return nil, err
	}
	d, ok := f.state.dbs[name]
	if !ok || (d.Owner != f.me.Email && !f.me.Admin) {
		return nil, api.Errorf(api.CodeNotFound, "database %s not found", name)
	}
	return d, nil
}

func (f *Fake) adminOnly() error {
	if !f.me.Admin {
		return api.Errorf(api.CodeForbidden, "admin rights required")
	}
	return nil
}

func copyApp(a *api.App) api.App {
	c := *a
	c.Instances = slices.Clone(a.Instances)
	c.EnvNames = slices.Clone(a.EnvNames)
	c.URLs = slices.Clone(a.URLs)
	c.Domains = slices.Clone(a.Domains)
	if c.Instances == nil {
		c.Instances = []api.Instance{}
	}
	if c.EnvNames == nil {
		c.EnvNames = []string{}
	}
	return c
}

// WhoAmI returns the fake's user.
func (f *Fake) WhoAmI(ctx context.Context) (*api.User, error) {
	u := f.me
	return &u, nil
}

// Apps lists the caller's apps (admins: all), by name.
func (f *Fake) Apps(ctx context.Context) ([]api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.App{}
	for _, a := range f.state.apps {
		if a.Owner == f.me.Email || f.me.Admin {
			out = append(out, copyApp(a))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateApp creates an app waiting for its source.
func (f *Fake) CreateApp(ctx context.Context, req api.CreateAppRequest) (*api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := api.ValidName("app", req.Name); err != nil {
		return nil, err
	}
	if req.Runtime != "" && !slices.Contains(api.Runtimes, req.Runtime) {
		return nil, api.Errorf(api.CodeBadRequest, "runtime %q is not known", req.Runtime)
	}
	if _, ok := f.state.apps[req.Name]; ok {
		return nil, api.Errorf(api.CodeConflict, "app %s exists", req.Name)
	}
	now := f.state.now()
	a := &api.App{Name: req.Name, Owner: f.me.Email, Status: api.AppCreated, Config: req.AppConfig,
		URLs: []string{"http://" + req.Name + "." + f.state.domain}, Domains: []string{}, CreatedAt: now, UpdatedAt: now, Replicas: 1}
	if req.Replicas != nil {
		if *req.Replicas < 0 || *req.Replicas > 100 {
			return nil, api.Errorf(api.CodeBadRequest, "replicas %d is out of range: use 0 to 100", *req.Replicas)
		}
		a.Replicas = *req.Replicas
	}
	for k := range req.Env {
		a.EnvNames = append(a.EnvNames, k)
	}
	sort.Strings(a.EnvNames)
	f.state.apps[a.Name] = a
	f.record("create app %s", a.Name)
	c := copyApp(a)
	return &c, nil
}

// UploadSource makes a release that builds at once: the answer says
// building, as the master's does, and the app runs it right after.
func (f *Fake) UploadSource(ctx context.Context, app string, archive io.Reader) (*api.Release, error) {
	if _, err := io.Copy(io.Discard, archive); err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.app(app)
	if err != nil {
		return nil, err
	}
	f.record("upload %s", app)
	return f.deployLocked(a, "deploy", ""), nil
}

// deployLocked adds a ready release and runs it on a fresh instance.
func (f *Fake) deployLocked(a *api.App, cause, image string) *api.Release {
	now := f.state.now()
	rels := f.state.rels[a.Name]
	n := 1
	if len(rels) > 0 {
		n = rels[0].Number + 1
	}
	for i := range rels {
		rels[i].Current = false
	}
	if image == "" {
		image = fmt.Sprintf("gasper/%s:%d", a.Name, n)
	}
	r := api.Release{App: a.Name, Number: n, Status: api.ReleaseReady, Runtime: or(a.Config.Runtime, "static"),
		Source: "sha256", Image: image, Cause: cause, Current: true, CreatedAt: now, BuiltAt: &now, BuildTime: "1s"}
	f.state.rels[a.Name] = append([]api.Release{r}, rels...)
	a.Release, a.Runtime, a.Status, a.UpdatedAt = n, r.Runtime, api.AppRunning, now
	f.replaceInstancesLocked(a)
	r.Status = api.ReleaseBuilding
	return &r
}

func (f *Fake) replaceInstancesLocked(a *api.App) {
	f.state.seq++
	now := f.state.now()
	a.Instances = []api.Instance{}
	for i := range a.Replicas {
		a.Instances = append(a.Instances, api.Instance{ID: fmt.Sprintf("%s-%d", a.Name, f.state.seq+i), Node: fmt.Sprintf("n%d", i+1),
			NodeName: fmt.Sprintf("node%d", i+1), Address: fmt.Sprintf("127.0.0.%d:30001", i+2), Release: a.Release, State: "healthy", StartedAt: &now})
	}
	f.state.seq += max(a.Replicas-1, 0)
	a.Running, a.Address = len(a.Instances), ""
	if len(a.Instances) > 0 {
		a.Address = a.Instances[0].Address
	}
	a.Status = api.AppRunning
	if a.Replicas == 0 {
		a.Status = api.AppStopped
	}
}

// DeleteApp deletes an app.
func (f *Fake) DeleteApp(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.app(name); err != nil {
		return err
	}
	delete(f.state.apps, name)
	delete(f.state.rels, name)
	f.record("delete app %s", name)
	return nil
}

// Restart replaces an app's instances with fresh ones.
func (f *Fake) Restart(ctx context.Context, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.app(app)
	if err != nil {
		return err
	}
	if a.Release == 0 {
		return api.Errorf(api.CodeConflict, "app %s has no release to restart", app)
	}
	f.replaceInstancesLocked(a)
	f.record("restart %s", app)
	return nil
}

// Scale sets how many replicas of an app run; they run at once, one per
// node (node1, node2, ...).
func (f *Fake) Scale(ctx context.Context, app string, replicas int) (*api.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if replicas < 0 || replicas > 100 {
		return nil, api.Errorf(api.CodeBadRequest, "replicas %d is out of range: use 0 to 100", replicas)
	}
	a, err := f.app(app)
	if err != nil {
		return nil, err
	}
	a.Replicas = replicas
	if a.Release > 0 {
		f.replaceInstancesLocked(a)
	}
	f.record("scale %s to %d", app, replicas)
	c := copyApp(a)
	return &c, nil
}

// Rebuild builds the current source again.
func (f *Fake) Rebuild(ctx context.Context, app string) (*api.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.app(app)
	if err != nil {
		return nil, err
	}
	if len(f.state.rels[app]) == 0 && a.Git == nil {
		return nil, api.Errorf(api.CodeConflict, "app %s has no source yet", app)
	}
	f.record("rebuild %s", app)
	return f.deployLocked(a, "rebuild", ""), nil
}

// Rollback runs release n's image (0: the ready release before the
// current one) as a new release.
func (f *Fake) Rollback(ctx context.Context, app string, n int) (*api.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.app(app)
	if err != nil {
		return nil, err
	}
	if a.Release == 0 {
		return nil, api.Errorf(api.CodeConflict, "app %s has no release to roll back from", app)
	}
	var to *api.Release
	for _, r := range f.state.rels[app] {
		if r.Status == api.ReleaseReady && ((n == 0 && r.Number < a.Release) || r.Number == n) {
			to = &r
			break
		}
	}
	if to == nil {
		return nil, api.Errorf(api.CodeConflict, "app %s has no earlier ready release", app)
	}
	f.record("rollback %s to %d", app, to.Number)
	r := f.deployLocked(a, fmt.Sprintf("rollback to %d", to.Number), to.Image)
	r.Status = api.ReleaseReady // a rollback does not build
	return r, nil
}

// Releases lists an app's releases, newest first.
func (f *Fake) Releases(ctx context.Context, app string) ([]api.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.app(app); err != nil {
		return nil, err
	}
	out := slices.Clone(f.state.rels[app])
	if out == nil {
		out = []api.Release{}
	}
	return out, nil
}

// Logs returns the app's last tail lines and, with follow, the lines
// printed later until ctx ends.
func (f *Fake) Logs(ctx context.Context, app string, follow bool, tail int) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.app(app)
	if err != nil {
		return nil, err
	}
	if len(a.Instances) == 0 && a.Release == 0 {
		return nil, api.Errorf(api.CodeConflict, "app %s has not run anywhere yet, so it has no logs", app)
	}
	lines := f.state.logs[app]
	start := 0
	if tail > 0 && len(lines) > tail {
		start = len(lines) - tail
	}
	pr, pw := io.Pipe()
	go f.stream(ctx, app, start, follow, pw)
	return pr, nil
}

func (f *Fake) stream(ctx context.Context, app string, from int, follow bool, pw *io.PipeWriter) {
	for {
		f.mu.Lock()
		lines := f.state.logs[app][from:]
		from += len(lines)
		wait := make(chan struct{})
		if follow {
			f.state.waiters[app] = append(f.state.waiters[app], wait)
		}
		f.mu.Unlock()
		if len(lines) > 0 {
			if _, err := io.WriteString(pw, strings.Join(lines, "\n")+"\n"); err != nil {
				return
			}
		}
		if !follow {
			pw.Close()
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
			return
		}
	}
}

// Databases lists the caller's databases (admins: all), by name.
func (f *Fake) Databases(ctx context.Context) ([]api.Database, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.Database{}
	for _, d := range f.state.dbs {
		if d.Owner == f.me.Email || f.me.Admin {
			c := *d
			c.Links = slices.Clone(d.Links)
			c.Password = ""
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateDatabase creates a database on node1; its password is in the
// answer only.
func (f *Fake) CreateDatabase(ctx context.Context, req api.CreateDatabaseRequest) (*api.Database, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := api.ValidName("database", req.Name); err != nil {
		return nil, err
	}
	if !slices.Contains(api.Engines, req.Engine) {
		return nil, api.Errorf(api.CodeBadRequest, "engine %q is not known: use one of %s", req.Engine, strings.Join(api.Engines, ", "))
	}
	if _, ok := f.state.dbs[req.Name]; ok {
		return nil, api.Errorf(api.CodeConflict, "database %s exists", req.Name)
	}
	mem := req.MemoryBytes
	if mem == 0 {
		mem = 256 << 20
	}
	if mem < 64<<20 {
		return nil, api.Errorf(api.CodeBadRequest, "memory %d MiB is too little for a database server: give at least 64 MiB", mem>>20)
	}
	d := &api.Database{Name: req.Name, Owner: f.me.Email, Engine: req.Engine, Status: api.DBCreating, Node: "n1", NodeName: "node1",
		Host: req.Name + ".db." + f.state.domain, DBName: req.Name, User: req.Name, MemoryBytes: mem, Links: []string{},
		URL: req.Engine + "://" + req.Name + ":****@" + req.Name + ".db." + f.state.domain + "/" + req.Name, CreatedAt: f.state.now()}
	f.state.dbs[d.Name] = d
	f.record("create database %s %s", d.Name, d.Engine)
	c := *d
	c.Password = "fake-password"
	return &c, nil
}

// DeleteDatabase deletes a database.
func (f *Fake) DeleteDatabase(ctx context.Context, name string, withBackups bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.db(name); err != nil {
		return err
	}
	delete(f.state.dbs, name)
	f.record("delete database %s", name)
	return nil
}

// LinkDatabase links a database to an app of the caller's.
func (f *Fake) LinkDatabase(ctx context.Context, db, app string) (*api.Database, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.db(db)
	if err != nil {
		return nil, err
	}
	if _, err := f.app(app); err != nil {
		return nil, err
	}
	if d.Status != api.DBReady {
		return nil, api.Errorf(api.CodeConflict, "database %s has no address yet (%s): link it once it is ready", db, d.Status)
	}
	if slices.Contains(d.Links, app) {
		return nil, api.Errorf(api.CodeConflict, "database %s is already linked to %s", db, app)
	}
	d.Links = append(d.Links, app)
	sort.Strings(d.Links)
	f.record("link %s %s", db, app)
	c := *d
	c.Links = slices.Clone(d.Links)
	return &c, nil
}

// UnlinkDatabase unlinks a database from an app.
func (f *Fake) UnlinkDatabase(ctx context.Context, db, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.db(db)
	if err != nil {
		return err
	}
	i := slices.Index(d.Links, app)
	if i < 0 {
		return api.Errorf(api.CodeNotFound, "database %s is not linked to %s", db, app)
	}
	d.Links = slices.Delete(d.Links, i, i+1)
	f.record("unlink %s %s", db, app)
	return nil
}

// Nodes lists the nodes (admins).
func (f *Fake) Nodes(ctx context.Context) ([]api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.adminOnly(); err != nil {
		return nil, err
	}
	out := slices.Clone(f.state.nodes)
	if out == nil {
		out = []api.Node{}
	}
	return out, nil
}

// RemoveNode forgets a node by id or hostname (admins).
func (f *Fake) RemoveNode(ctx context.Context, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.adminOnly(); err != nil {
		return err
	}
	for i, n := range f.state.nodes {
		if n.ID == node || n.Hostname == node {
			f.state.nodes = slices.Delete(f.state.nodes, i, i+1)
			f.record("remove node %s", n.Hostname)
			return nil
		}
	}
	return api.Errorf(api.CodeNotFound, "node %s not found", node)
}

// CordonNode marks a node (un)schedulable (admins).
func (f *Fake) CordonNode(ctx context.Context, node string, cordon bool) (*api.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.adminOnly(); err != nil {
		return nil, err
	}
	for i, n := range f.state.nodes {
		if n.ID == node || n.Hostname == node {
			f.state.nodes[i].Cordoned = cordon
			verb := "cordon"
			if !cordon {
				verb = "uncordon"
			}
			f.record("%s node %s", verb, n.Hostname)
			out := f.state.nodes[i]
			return &out, nil
		}
	}
	return nil, api.Errorf(api.CodeNotFound, "node %s not found", node)
}

// DrainNode cordons a node and names the apps that move off it (admins).
func (f *Fake) DrainNode(ctx context.Context, node string) (*api.DrainResult, error) {
	n, err := f.CordonNode(ctx, node, true)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("drain node %s", n.Hostname)
	return &api.DrainResult{Node: *n, Apps: []string{}}, nil
}

// Users lists the users (admins).
func (f *Fake) Users(ctx context.Context) ([]api.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.adminOnly(); err != nil {
		return nil, err
	}
	return slices.Clone(f.state.users), nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
