package apps

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gasper/api"
	"gasper/master/store"
)

// ledger keeps every app in memory as last written, what the replicas of
// every app reserve on each node and which apps each node runs, so placing a
// replica, a schedule pass or building a node's desired set or the routes
// costs no store read: with thousands of apps those reads were nearly all of
// the scheduler's time. This service is the only writer of apps, and every
// write goes through Service.insert, update or forget, which keep the ledger
// in step; it is loaded from the store on first use.
//
// Writes hold wmu across the store's write and the ledger's change, so two
// writes of one app cannot reach the ledger in the other order; mu guards
// only the maps, so reads never wait for the store.
type ledger struct {
	wmu    sync.Mutex
	mu     sync.Mutex
	loaded bool
	apps   map[string]entry           // app -> as last written, with where its replicas are and what each needs
	ready  map[string]store.Release   // "app/N" -> a built release (they do not change)
	used   map[string]Resources       // node -> what the apps' replicas there reserve
	onNode map[string]map[string]bool // node -> the apps with a replica there
}

type entry struct {
	app   store.App // as last written; read-only
	nodes []string
	need  Resources
}

// load reads every app once; later calls do nothing.
func (l *ledger) load(ctx context.Context, s *Service) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded {
		return nil
	}
	as, err := s.cfg.Store.Apps(ctx, "")
	if err != nil {
		return err
	}
	l.apps, l.used, l.onNode = map[string]entry{}, map[string]Resources{}, map[string]map[string]bool{}
	for _, a := range as {
		l.setLocked(a.Name, entry{app: a, nodes: a.Nodes, need: s.needOf(a.Config)})
	}
	l.ready = map[string]store.Release{}
	l.loaded = true
	return nil
}

func (l *ledger) setLocked(app string, e entry) {
	if old, ok := l.apps[app]; ok {
		for _, id := range old.nodes {
			l.used[id] = l.used[id].add(old.need, -1)
			delete(l.onNode[id], app)
		}
	}
	if e.app.Name == "" {
		delete(l.apps, app)
		return
	}
	l.apps[app] = e
	for _, id := range e.nodes {
		l.used[id] = l.used[id].add(e.need, 1)
		if l.onNode[id] == nil {
			l.onNode[id] = map[string]bool{}
		}
		l.onNode[id][app] = true
	}
}

// usage returns a copy of what apps reserve per node.
func (l *ledger) usage() map[string]Resources {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.used)
}

// appsOn lists the apps with a replica on a node.
func (l *ledger) appsOn(nodeID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.onNode[nodeID]))
}

// insert is Store.CreateApp that keeps the ledger in step.
func (s *Service) insert(ctx context.Context, a store.App) error {
	l := &s.ledger
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := s.cfg.Store.CreateApp(ctx, a); err != nil {
		return err
	}
	a, err := s.cfg.Store.App(ctx, a.Name) // as written, with its times
	if err == nil {
		l.apply(s, a)
	}
	return err
}

// update is Store.UpdateApp that keeps the ledger in step.
func (s *Service) update(ctx context.Context, app string, fn func(*store.App) error) (store.App, error) {
	as, err := s.updateAll(ctx, []string{app}, fn, nil)
	if err != nil {
		return store.App{}, err
	}
	return as[0], nil
}

// updateAll is Store.UpdateApps that keeps the ledger in step.
func (s *Service) updateAll(ctx context.Context, apps []string, fn func(*store.App) error, events []store.Event) ([]store.App, error) {
	l := &s.ledger
	l.wmu.Lock()
	defer l.wmu.Unlock()
	as, err := s.cfg.Store.UpdateApps(ctx, apps, fn, events)
	if err == nil {
		l.apply(s, as...)
	}
	return as, err
}

// apply records apps as written, once the ledger is loaded (until then,
// loading reads them).
func (l *ledger) apply(s *Service, as ...store.App) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded {
		for _, a := range as {
			l.setLocked(a.Name, entry{app: a, nodes: a.Nodes, need: s.needOf(a.Config)})
		}
	}
}

// forget is Store.DeleteApp that keeps the ledger in step.
func (s *Service) forget(ctx context.Context, app string) error {
	l := &s.ledger
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := s.cfg.Store.DeleteApp(ctx, app); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded {
		l.setLocked(app, entry{})
		for k := range l.ready { // a new app of that name numbers its releases from 1 again
			if strings.HasPrefix(k, app+"/") {
				delete(l.ready, k)
			}
		}
	}
	return nil
}

// cachedApp is Store.App without a store read.
func (s *Service) cachedApp(ctx context.Context, name string) (store.App, error) {
	l := &s.ledger
	if err := l.load(ctx, s); err != nil {
		return store.App{}, err
	}
	l.mu.Lock()
	e, ok := l.apps[name]
	l.mu.Unlock()
	if !ok {
		return store.App{}, api.Errorf(api.CodeNotFound, "app %s not found", name)
	}
	return e.own(), nil
}

// cachedApps is Store.Apps without a store read: the apps of owner ("":
// all), by name.
func (s *Service) cachedApps(ctx context.Context, owner string) ([]store.App, error) {
	l := &s.ledger
	if err := l.load(ctx, s); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.apps))
	for name, e := range l.apps {
		if owner == "" || e.app.OwnerID == owner {
			names = append(names, name)
		}
	}
	slices.Sort(names) // the names, not the apps: moving those was most of the cost
	out := make([]store.App, len(names))
	for i, name := range names {
		out[i] = l.apps[name].own()
	}
	return out, nil
}

// own returns the app for a caller to keep and change: the one slice it
// holds is copied.
func (e entry) own() store.App {
	a := e.app
	a.Nodes = slices.Clone(a.Nodes)
	return a
}

// release is Store.Release, remembering built releases: they never change.
func (s *Service) release(ctx context.Context, app string, n int) (store.Release, error) {
	l := &s.ledger
	key := app + "/" + strconv.Itoa(n)
	l.mu.Lock()
	r, ok := l.ready[key]
	l.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := s.cfg.Store.Release(ctx, app, n)
	if err == nil && r.Status == api.ReleaseReady {
		l.mu.Lock()
		if _, ok := l.apps[app]; ok && l.loaded { // not deleted meanwhile
			l.ready[key] = r
		}
		l.mu.Unlock()
	}
	return r, err
}
