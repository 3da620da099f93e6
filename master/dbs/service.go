// Package dbs is the master's side of databases: placement on db nodes, the desired sets pushed
// to them, their reported state, links to apps, and backups stored by the master.
package dbs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
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

// Tunnel gives HTTP clients to connected nodes.
type Tunnel interface {
	Client(nodeID string) (*http.Client, bool)
}

// Apps is what linking needs of the apps service: it checks the app's owner and rolls out the
// new environment.
type Apps interface {
	Env(ctx context.Context, who store.User, name string) (map[string]string, error)
	SetEnv(ctx context.Context, who store.User, name string, req api.EnvRequest) (api.Release, error)
}

// Config configures the service.
type Config struct {
	Store  *store.Store
	Box    *secrets.Box
	Nodes  Nodes
	Tunnel Tunnel
	Apps   Apps
	// Domain is the cloud domain: database NAME answers at NAME.db.Domain.
	Domain string
	// DefaultMemory applies to databases that ask for none; DefaultCPUs to all.
	DefaultMemory int64
	DefaultCPUs   float64
	// Images maps engines to image references that replace their built images.
	Images map[string]string
	// Allocated, if set, returns the memory reserved per node by apps and databases; without it
	// only databases count.
	Allocated func(ctx context.Context) (map[string]int64, error)
	// BackupDir keeps backup files.
	BackupDir string
	// OnChange, if set, is called when databases appear, move or go (DNS records follow them).
	OnChange func()
	// ResyncEvery is how often every db node's desired set is pushed again; default 30s.
	ResyncEvery time.Duration
	Logger      *slog.Logger
}

// Service runs databases. Create it with New and start it with Run.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	ctx     context.Context
	reports map[string]map[string]proto.DBStatus // node id -> name -> status
	pending map[string]string                    // name -> why it is not placed
	pusher  *nodepush.Pusher
}

// MaxNameLength bounds database names: the node's container is "db-" + name.
const MaxNameLength = 60

// MinMemory is the least memory a database server may get.
const MinMemory = 64 << 20

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ResyncEvery == 0 {
		cfg.ResyncEvery = 30 * time.Second
	}
	if cfg.DefaultMemory == 0 {
		cfg.DefaultMemory = 256 << 20
	}
	if err := os.MkdirAll(cfg.BackupDir, 0o700); err != nil {
		return nil, fmt.Errorf("backup dir: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger.With("component", "dbs"), ctx: context.Background(),
		reports: map[string]map[string]proto.DBStatus{}, pending: map[string]string{}}
	s.pusher = nodepush.New(nodepush.Config{What: "databases", Path: proto.PathDBs, Tunnel: cfg.Tunnel, Logger: s.log,
		Desired: func(ctx context.Context, nodeID string) (any, error) { return s.Desired(ctx, nodeID) }})
	return s, nil
}

// Run places pending databases and pushes desired sets until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.pusher.Start(ctx)
	place := time.NewTicker(2 * time.Second)
	defer place.Stop()
	resync := time.NewTicker(s.cfg.ResyncEvery)
	defer resync.Stop()
	s.kickAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-place.C:
			s.placePending(ctx)
		case <-resync.C:
			s.kickAll(ctx)
		}
	}
}

// NodeConnected pushes a db node's desired set as soon as its tunnel is up.
func (s *Service) NodeConnected(nodeID string, facts proto.Facts) {
	// What it reported before it went away no longer holds.
	s.mu.Lock()
	delete(s.reports, nodeID)
	s.mu.Unlock()
	if slices.Contains(facts.Roles, proto.RoleDB) {
		s.pusher.Kick(nodeID)
	}
}

func (s *Service) kickAll(ctx context.Context) {
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return
	}
	for _, n := range ns {
		if n.Connected && slices.Contains(n.Roles, proto.RoleDB) {
			s.pusher.Kick(n.ID)
		}
	}
}

func (s *Service) changed() {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}

// --- ownership ---

func (s *Service) db(ctx context.Context, who store.User, name string) (store.Database, error) {
	if err := api.ValidName("database", name); err != nil {
		return store.Database{}, err
	}
	d, err := s.cfg.Store.Database(ctx, name)
	if err == nil && d.OwnerID != who.ID && !who.Admin {
		err = api.Errorf(api.CodeNotFound, "database %s not found", name)
	}
	return d, err
}

func (s *Service) audit(ctx context.Context, who store.User, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, who.Email, action, target, detail); err != nil {
		s.log.Warn("audit", "err", err)
	}
}

// --- create, read, delete ---

// Create places a new database on a db node and has it provisioned there. The answer carries the
// generated password, the only time it is shown unasked.
func (s *Service) Create(ctx context.Context, who store.User, req api.CreateDatabaseRequest) (api.Database, error) {
	if err := api.ValidName("database", req.Name); err != nil {
		return api.Database{}, err
	}
	if len(req.Name) > MaxNameLength {
		return api.Database{}, api.Errorf(api.CodeBadRequest, "database name %q is too long: use at most %d characters", req.Name, MaxNameLength)
	}
	if !slices.Contains(api.Engines, req.Engine) {
		return api.Database{}, api.Errorf(api.CodeBadRequest, "no database engine %q: use one of %s", req.Engine, strings.Join(api.Engines, ", "))
	}
	mem := req.MemoryBytes
	if mem == 0 {
		mem = s.cfg.DefaultMemory
	}
	if mem < MinMemory {
		return api.Database{}, api.Errorf(api.CodeBadRequest, "memory %d MiB is too little for a database server: give at least %d MiB", mem>>20, MinMemory>>20)
	}
	pw := password()
	sealed := s.cfg.Box.Seal([]byte(pw))
	d := store.Database{Name: req.Name, ID: store.NewID("d-"), OwnerID: who.ID, Engine: req.Engine, MemoryBytes: mem,
		CPUs: s.cfg.DefaultCPUs, PasswordSealed: sealed}
	n, why, err := s.place(ctx, mem, req.Node)
	if err != nil {
		return api.Database{}, err
	}
	d.NodeID = n.ID
	if err := s.cfg.Store.CreateDatabase(ctx, d); err != nil {
		return api.Database{}, err
	}
	if d.NodeID == "" {
		s.setPending(d.Name, why)
	}
	s.audit(ctx, who, "db.create", d.Name, fmt.Sprintf("engine=%s node=%s memory=%d", d.Engine, n.Hostname, mem))
	s.pusher.Kick(d.NodeID)
	s.changed()
	v, err := s.view(ctx, d)
	v.Password = pw
	v.URL = s.url(d, v, pw)
	return v, err
}

// password makes a database password: 32 letters and digits (190 bits), safe in any URL,
// shell or SQL string by construction.
func password() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		if err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		b[i] = letters[n.Int64()]
	}
	return string(b)
}

// place picks the db node with the most memory left after the limits of what is placed there. With want set
// (a node id or hostname) only that node is considered. When nothing fits it returns no node and
// why; the database waits as pending.
func (s *Service) place(ctx context.Context, mem int64, want string) (api.Node, string, error) {
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return api.Node{}, "", err
	}
	used := map[string]int64{}
	if s.cfg.Allocated != nil {
		if used, err = s.cfg.Allocated(ctx); err != nil {
			return api.Node{}, "", err
		}
	} else {
		all, err := s.cfg.Store.Databases(ctx, "")
		if err != nil {
			return api.Node{}, "", err
		}
		for _, d := range all {
			used[d.NodeID] += d.MemoryBytes
		}
	}
	var best api.Node
	var bestFree int64 = -1
	found := false
	for _, n := range nodes {
		if want != "" && n.ID != want && n.Hostname != want {
			continue
		}
		found = true
		if !slices.Contains(n.Roles, proto.RoleDB) {
			if want != "" {
				return api.Node{}, "", api.Errorf(api.CodeBadRequest, "node %s does not have the db role", want)
			}
			continue
		}
		if n.State != api.NodeReady || !n.Connected || n.Cordoned {
			continue
		}
		free := int64(n.Facts.MemoryBytes) - used[n.ID]
		if free >= mem && free > bestFree {
			best, bestFree = n, free
		}
	}
	if want != "" && !found {
		return api.Node{}, "", api.Errorf(api.CodeNotFound, "node %s not found", want)
	}
	if bestFree < 0 {
		why := fmt.Sprintf("no ready, uncordoned db node has %d MiB of memory free", mem>>20)
		if !slices.ContainsFunc(nodes, func(n api.Node) bool { return slices.Contains(n.Roles, proto.RoleDB) }) {
			why = "no node has the db role: join one with --roles db (or add db to a node's roles)"
		}
		return api.Node{}, why, nil
	}
	return best, "", nil
}

func (s *Service) setPending(name, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == "" {
		delete(s.pending, name)
	} else {
		s.pending[name] = why
	}
}

// placePending places databases that waited for a node.
func (s *Service) placePending(ctx context.Context) {
	all, err := s.cfg.Store.Databases(ctx, "")
	if err != nil {
		return
	}
	for _, d := range all {
		if d.NodeID != "" {
			continue
		}
		n, why, err := s.place(ctx, d.MemoryBytes, "")
		if err != nil || n.ID == "" {
			s.setPending(d.Name, why)
			continue
		}
		if _, err := s.cfg.Store.UpdateDatabase(ctx, d.Name, func(x *store.Database) error { x.NodeID = n.ID; return nil }); err != nil {
			continue
		}
		s.setPending(d.Name, "")
		s.log.Info("placed pending database", "db", d.Name, "node", n.Hostname)
		s.cfg.Store.Audit(ctx, "system", "db.place", d.Name, "node="+n.Hostname)
		s.pusher.Kick(n.ID)
		s.changed()
	}
}

// List returns who's databases (admins: all).
func (s *Service) List(ctx context.Context, who store.User) ([]api.Database, error) {
	owner := who.ID
	if who.Admin {
		owner = ""
	}
	ds, err := s.cfg.Store.Databases(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := []api.Database{}
	for _, d := range ds {
		v, err := s.view(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns one database; showPassword adds its password (and the URL with it).
func (s *Service) Get(ctx context.Context, who store.User, name string, showPassword bool) (api.Database, error) {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return api.Database{}, err
	}
	v, err := s.view(ctx, d)
	if err != nil || !showPassword {
		return v, err
	}
	pw, err := s.cfg.Box.Open(d.PasswordSealed)
	if err != nil {
		return api.Database{}, err
	}
	v.Password = string(pw)
	v.URL = s.url(d, v, v.Password)
	s.audit(ctx, who, "db.show-password", d.Name, "")
	return v, nil
}

// host is a database's DNS name.
func (s *Service) host(name string) string { return name + ".db." + s.cfg.Domain }

func (s *Service) url(d store.Database, v api.Database, pw string) string {
	u := url.URL{Scheme: scheme[d.Engine], Host: net.JoinHostPort(v.Host, strconv.Itoa(v.Port))}
	db := strings.ReplaceAll(d.Name, "-", "_")
	switch {
	case d.Engine == "redis":
		u.Path = "/0"
		u.User = url.UserPassword("default", pw)
	default:
		u.Path = "/" + db
		u.User = url.UserPassword(db, pw)
	}
	if d.Engine == "mongodb" {
		u.RawQuery = "authMechanism=SCRAM-SHA-256"
	}
	// The mask stays readable (url.URL would escape it).
	return strings.Replace(u.String(), ":"+url.PathEscape(maskedPassword)+"@", ":"+maskedPassword+"@", 1)
}

// maskedPassword stands for the password in URLs shown without it.
const maskedPassword = "****"

// scheme and envVar follow engines.Engine (a test keeps them in step); the master does not link
// the image recipes.
var (
	scheme = map[string]string{"mysql": "mysql", "postgresql": "postgres", "redis": "redis", "mongodb": "mongodb"}
	envVar = map[string]string{"mysql": "MYSQL_URL", "postgresql": "POSTGRES_URL", "redis": "REDIS_URL", "mongodb": "MONGODB_URL"}
)

func (s *Service) view(ctx context.Context, d store.Database) (api.Database, error) {
	v := api.Database{Name: d.Name, Engine: d.Engine, Node: d.NodeID, Host: s.host(d.Name), Port: d.HostPort,
		DBName: strings.ReplaceAll(d.Name, "-", "_"), User: strings.ReplaceAll(d.Name, "-", "_"),
		MemoryBytes: d.MemoryBytes, CreatedAt: d.CreatedAt, Status: api.DBCreating}
	if d.Engine == "redis" {
		v.DBName, v.User = "0", "default"
	}
	if u, err := s.cfg.Store.User(ctx, d.OwnerID); err == nil {
		v.Owner = u.Email
	}
	links, err := s.cfg.Store.Links(ctx, d.Name)
	if err != nil {
		return v, err
	}
	v.Links = links
	s.mu.Lock()
	why, pending := s.pending[d.Name]
	rep, reported := s.reports[d.NodeID][d.Name]
	s.mu.Unlock()
	if d.NodeID == "" {
		v.Status, v.StatusReason = api.DBPending, why
		if !pending {
			v.StatusReason = "waiting for a db node"
		}
	} else {
		nodes, err := s.cfg.Nodes.Nodes(ctx)
		if err != nil {
			return v, err
		}
		i := slices.IndexFunc(nodes, func(n api.Node) bool { return n.ID == d.NodeID })
		switch {
		case i < 0:
			v.Status, v.StatusReason = api.DBUnavailable, "its node was removed: restore a backup into a new database"
		case nodes[i].State != api.NodeReady || !nodes[i].Connected:
			v.NodeName = nodes[i].Hostname
			v.Status, v.StatusReason = api.DBUnavailable, "its node "+nodes[i].Hostname+" is "+nodes[i].State
		default:
			v.NodeName = nodes[i].Hostname
			v.Address = net.JoinHostPort(nodes[i].Advertise, strconv.Itoa(d.HostPort))
			if reported && rep.Generation == d.Generation {
				switch rep.State {
				case proto.DBReady:
					v.Status = api.DBReady
				case proto.DBFailing:
					v.Status, v.StatusReason, v.LastLog = api.DBFailed, rep.Error, rep.LastLog
				}
			}
		}
		if d.HostPort == 0 {
			v.Address = ""
		}
	}
	v.URL = s.url(d, v, maskedPassword)
	return v, nil
}

// Delete deletes a database, its container and its data on the node; withBackups deletes its
// backups too. Apps linked to it lose its variables.
func (s *Service) Delete(ctx context.Context, who store.User, name string, withBackups bool) error {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return err
	}
	links, err := s.cfg.Store.Links(ctx, d.Name)
	if err != nil {
		return err
	}
	for _, app := range links {
		if err := s.Unlink(ctx, who, d.Name, app); err != nil {
			return fmt.Errorf("unlink app %s first: %w", app, err)
		}
	}
	if err := s.cfg.Store.DeleteDatabase(ctx, d.Name); err != nil {
		return err
	}
	detail := ""
	if withBackups {
		ids, err := s.cfg.Store.DeleteBackups(ctx, d.Name)
		if err != nil {
			return err
		}
		for _, id := range ids {
			os.Remove(s.backupPath(id))
		}
		detail = fmt.Sprintf("with %d backups", len(ids))
	}
	s.audit(ctx, who, "db.delete", d.Name, detail)
	s.changed()
	if d.NodeID != "" {
		s.pusher.Kick(d.NodeID)
		go s.deleteData(d)
	}
	return nil
}

// deleteData asks the node to remove a deleted database's data, retrying while it is away.
func (s *Service) deleteData(d store.Database) {
	for try := 0; try < 30; try++ {
		s.mu.Lock()
		ctx := s.ctx
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if hc, ok := s.cfg.Tunnel.Client(d.NodeID); ok {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			path := strings.Replace(proto.PathDBData, "{db}", d.Name, 1) + "?id=" + url.QueryEscape(d.ID)
			req, _ := http.NewRequestWithContext(rctx, "DELETE", "http://agent"+path, nil)
			resp, err := hc.Do(req)
			cancel()
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					s.log.Info("database data deleted", "db", d.Name, "node", d.NodeID)
					return
				}
				err = fmt.Errorf("node answered %s", resp.Status)
			}
			s.log.Warn("delete database data; retrying", "db", d.Name, "err", err)
		}
		time.Sleep(10 * time.Second)
	}
	s.log.Error("database data left on its node: remove it with the node's state dir", "db", d.Name, "node", d.NodeID, "id", d.ID)
}

// Restart replaces the database's container (the data stays).
func (s *Service) Restart(ctx context.Context, who store.User, name string) error {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.UpdateDatabase(ctx, d.Name, func(x *store.Database) error { x.Generation++; return nil }); err != nil {
		return err
	}
	s.mu.Lock()
	if r := s.reports[d.NodeID]; r != nil {
		delete(r, d.Name)
	}
	s.mu.Unlock()
	s.audit(ctx, who, "db.restart", d.Name, "")
	s.pusher.Kick(d.NodeID)
	return nil
}

// --- links ---

// Link gives app the database's URL as DATABASE_URL and the engine's own variable, and rolls it out.
func (s *Service) Link(ctx context.Context, who store.User, name, app string) (api.Database, error) {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return api.Database{}, err
	}
	if err := api.ValidName("app", app); err != nil {
		return api.Database{}, err
	}
	pw, err := s.cfg.Box.Open(d.PasswordSealed)
	if err != nil {
		return api.Database{}, err
	}
	v, err := s.view(ctx, d)
	if err != nil {
		return api.Database{}, err
	}
	if d.HostPort == 0 {
		return api.Database{}, api.Errorf(api.CodeConflict, "database %s has no address yet (%s): link it once it is ready", d.Name, v.Status)
	}
	u := s.url(d, v, string(pw))
	if _, err := s.cfg.Apps.SetEnv(ctx, who, app, api.EnvRequest{Set: map[string]string{"DATABASE_URL": u, envVar[d.Engine]: u}}); err != nil {
		return api.Database{}, err
	}
	if err := s.cfg.Store.Link(ctx, d.Name, app); err != nil {
		return api.Database{}, err
	}
	s.audit(ctx, who, "db.link", d.Name, "app="+app)
	return s.view(ctx, d)
}

// Unlink takes the database's variables from app (those that still hold its URL).
func (s *Service) Unlink(ctx context.Context, who store.User, name, app string) error {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return err
	}
	if err := api.ValidName("app", app); err != nil {
		return err
	}
	links, err := s.cfg.Store.Links(ctx, d.Name)
	if err != nil {
		return err
	}
	if !slices.Contains(links, app) {
		return api.Errorf(api.CodeNotFound, "database %s is not linked to app %s", d.Name, app)
	}
	env, err := s.cfg.Apps.Env(ctx, who, app)
	if err != nil {
		return err
	}
	pw, err := s.cfg.Box.Open(d.PasswordSealed)
	if err != nil {
		return err
	}
	v, err := s.view(ctx, d)
	if err != nil {
		return err
	}
	u := s.url(d, v, string(pw))
	var unset []string
	for _, k := range []string{"DATABASE_URL", envVar[d.Engine]} {
		if env[k] == u {
			unset = append(unset, k)
		}
	}
	if len(unset) > 0 {
		if _, err := s.cfg.Apps.SetEnv(ctx, who, app, api.EnvRequest{Unset: unset}); err != nil {
			return err
		}
	}
	if err := s.cfg.Store.Unlink(ctx, d.Name, app); err != nil {
		return err
	}
	s.audit(ctx, who, "db.unlink", d.Name, "app="+app)
	return nil
}

// --- node side ---

// Desired returns the databases a node should run, with their passwords (the tunnel is TLS).
func (s *Service) Desired(ctx context.Context, nodeID string) ([]proto.DBSpec, error) {
	all, err := s.cfg.Store.Databases(ctx, "")
	if err != nil {
		return nil, err
	}
	specs := []proto.DBSpec{}
	for _, d := range all {
		if d.NodeID != nodeID {
			continue
		}
		pw, err := s.cfg.Box.Open(d.PasswordSealed)
		if err != nil {
			return nil, err
		}
		specs = append(specs, proto.DBSpec{Name: d.Name, ID: d.ID, Engine: d.Engine, Password: string(pw),
			MemoryBytes: d.MemoryBytes, CPUs: d.CPUs, Generation: d.Generation, Image: s.cfg.Images[d.Engine]})
	}
	return specs, nil
}

// Register adds the routes the master serves to a node's agent.
func (s *Service) Register(mux *http.ServeMux, nodeID string) {
	mux.HandleFunc("POST "+proto.PathDBStatus, func(w http.ResponseWriter, r *http.Request) {
		var rep proto.DBReport
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&rep); err != nil {
			http.Error(w, "invalid database report: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.report(r.Context(), nodeID, rep)
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Service) report(ctx context.Context, nodeID string, rep proto.DBReport) {
	byName := map[string]proto.DBStatus{}
	for _, st := range rep.DBs {
		byName[st.Name] = st
	}
	s.mu.Lock()
	s.reports[nodeID] = byName
	s.mu.Unlock()
	for _, st := range rep.DBs {
		if st.HostPort == 0 {
			continue
		}
		d, err := s.cfg.Store.Database(ctx, st.Name)
		if err != nil || d.NodeID != nodeID || d.HostPort == st.HostPort {
			continue
		}
		s.cfg.Store.UpdateDatabase(ctx, d.Name, func(x *store.Database) error { x.HostPort = st.HostPort; return nil })
		s.changed()
	}
}

// Records are the DNS records of databases: NAME.db -> the address of its node.
func (s *Service) Records(ctx context.Context) (map[string][]string, error) {
	all, err := s.cfg.Store.Databases(ctx, "")
	if err != nil {
		return nil, err
	}
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, d := range all {
		i := slices.IndexFunc(nodes, func(n api.Node) bool { return n.ID == d.NodeID })
		if i >= 0 && net.ParseIP(nodes[i].Advertise) != nil {
			out[d.Name+".db"] = []string{nodes[i].Advertise}
		}
	}
	return out, nil
}

// Logs streams a database server's logs from its node.
func (s *Service) Logs(ctx context.Context, who store.User, name string, follow bool, tail int, w io.Writer) error {
	d, err := s.db(ctx, who, name)
	if err != nil {
		return err
	}
	q := url.Values{"tail": {strconv.Itoa(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := s.call(ctx, d, "GET", strings.Replace(proto.PathDBLogs, "{db}", d.Name, 1)+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(flusher{w}, resp.Body)
	return err
}

// call sends a request to the node of d and returns a 2xx answer, or an API error.
func (s *Service) call(ctx context.Context, d store.Database, method, path string, body io.Reader) (*http.Response, error) {
	if d.NodeID == "" {
		return nil, api.Errorf(api.CodeConflict, "database %s is not placed on a node yet", d.Name)
	}
	hc, ok := s.cfg.Tunnel.Client(d.NodeID)
	if !ok {
		return nil, api.Errorf(api.CodeUnavailable, "the node of database %s is not connected", d.Name)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the node of database %s: %v", d.Name, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		code := api.CodeUnavailable
		if resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusUnprocessableEntity {
			code = api.CodeConflict
		}
		return nil, api.Errorf(code, "database %s: %s", d.Name, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

type flusher struct{ w io.Writer }

func (f flusher) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}
