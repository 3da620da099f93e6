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

// ledger keeps in memory what the replicas of every app reserve on each node
// and which apps each node runs, so placing a replica or building a node's
// desired set costs a look at that node instead of a read of every app: with
// thousands of apps those reads were nearly all of the scheduler's time.
// Every write of an app goes through Service.update or forget, which keep it
// in step (a new app has nothing placed); it is loaded from the store on
// first use.
type ledger struct {
	mu     sync.Mutex
	loaded bool
	apps   map[string]entry           // placed app -> where its replicas are and what each needs, as last written
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
	if len(e.nodes) == 0 {
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

// update is Store.UpdateApp that keeps the ledger in step. The write and
// the ledger change happen under one lock, so two writes of one app cannot
// reach the ledger in the other order (the store has one writer anyway).
func (s *Service) update(ctx context.Context, app string, fn func(*store.App) error) (store.App, error) {
	l := &s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	a, err := s.cfg.Store.UpdateApp(ctx, app, fn)
	if err == nil && l.loaded {
		l.setLocked(a.Name, entry{app: a, nodes: a.Nodes, need: s.needOf(a.Config)})
	}
	return a, err
}

// forget is Store.DeleteApp that keeps the ledger in step.
func (s *Service) forget(ctx context.Context, app string) error {
	l := &s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	err := s.cfg.Store.DeleteApp(ctx, app)
	if err == nil && l.loaded {
		l.setLocked(app, entry{})
		for k := range l.ready { // a new app of that name numbers its releases from 1 again
			if strings.HasPrefix(k, app+"/") {
				delete(l.ready, k)
			}
		}
	}
	return err
}

// placedApp returns a placed app as last written, without a store read.
func (l *ledger) placedApp(name string) (store.App, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.apps[name]
	return e.app, ok
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
		if l.loaded && l.apps[app].app.Name == app { // not deleted meanwhile
			l.ready[key] = r
		}
		l.mu.Unlock()
	}
	return r, err
}
