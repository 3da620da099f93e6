package apps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

// pendingPrefix starts the build log line of a release that waits for room.
const pendingPrefix = "==> pending"

// MaxReplicas bounds gasper app scale.
const MaxReplicas = 100

// noRoomError says that no node can take an app now.
type noRoomError struct{ reason string }

func (e *noRoomError) Error() string { return e.reason }

// backoff spaces out the builds of a replica's image on a node after one
// failed, so a bad app cannot keep the cluster rebuilding it.
type backoff struct {
	failures int
	next     time.Time
}

const (
	firstBackoff = 2 * time.Second
	maxBackoff   = 2 * time.Minute
)

// ready reports whether a node can run replicas now.
func ready(n api.Node) bool {
	return n.State == api.NodeReady && n.Connected && slices.Contains(n.Roles, proto.RoleApp)
}

// counts tells how many replicas each node holds.
func counts(nodes []string) map[string]int {
	out := map[string]int{}
	for _, id := range nodes {
		out[id]++
	}
	return out
}

// place places an app's replicas for its first build (those that fit) and
// returns the node the build runs on. When no node can take any replica,
// the error is a *noRoomError with the reason.
func (s *Service) place(ctx context.Context, a store.App) (api.Node, error) {
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return api.Node{}, err
	}
	// Placed already (a schedule pass places waiting apps in bulk): the
	// build only needs one of its ready nodes, and takes no lock, so the
	// builds of a pass run side by side.
	if a, err = s.cachedApp(ctx, a.Name); err != nil {
		return api.Node{}, err
	}
	if n, ok := buildNode(a, nodes); ok {
		return n, nil
	}
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	if nodes, err = s.cfg.Nodes.Nodes(ctx); err != nil {
		return api.Node{}, err
	}
	if a, err = s.cachedApp(ctx, a.Name); err != nil {
		return api.Node{}, err
	}
	if a.Replicas == 0 {
		// Scaled to 0: the release is built somewhere, and nothing runs.
		used, err := s.used(ctx)
		if err != nil {
			return api.Node{}, err
		}
		picked, reason := spread(nodes, used, s.needOf(a.Config), 1, nil, "", s.rules())
		if len(picked) == 0 {
			return api.Node{}, &noRoomError{reason}
		}
		return picked[0], nil
	}
	if a, err = s.fill(ctx, a, nodes, ""); err != nil {
		return api.Node{}, err
	}
	byID := nodeMap(nodes)
	for _, id := range a.Nodes {
		if n := byID[id]; ready(n) {
			return n, nil
		}
	}
	return api.Node{}, &noRoomError{a.Pending}
}

// buildNode returns the first ready node of an app whose replicas are all
// placed.
func buildNode(a store.App, nodes []api.Node) (api.Node, bool) {
	if a.Replicas == 0 || len(a.Nodes) < a.Replicas || a.Pending != "" {
		return api.Node{}, false
	}
	for _, id := range a.Nodes {
		for _, n := range nodes {
			if n.ID == id && ready(n) {
				return n, true
			}
		}
	}
	return api.Node{}, false
}

func nodeMap(nodes []api.Node) map[string]api.Node {
	out := make(map[string]api.Node, len(nodes))
	for _, n := range nodes {
		out[n.ID] = n
	}
	return out
}

// fill places the replicas of a that have no node yet, where they fit, and
// records why the rest wait. The caller holds placeMu.
func (s *Service) fill(ctx context.Context, a store.App, nodes []api.Node, cause string) (store.App, error) {
	as, err := s.fillAll(ctx, []store.App{a}, nodes, cause)
	if err != nil {
		return a, err
	}
	return as[0], nil
}

// fillAll is fill for several apps, written with one commit; it returns
// them as written. The caller holds placeMu.
func (s *Service) fillAll(ctx context.Context, as []store.App, nodes []api.Node, cause string) ([]store.App, error) {
	type change struct {
		picked  []string
		pending string
	}
	changes := map[string]change{}
	var names []string
	var events []store.Event
	var used map[string]Resources
	for _, a := range as {
		missing := a.Replicas - len(a.Nodes)
		if missing <= 0 {
			if a.Pending != "" {
				changes[a.Name] = change{}
				names = append(names, a.Name)
			}
			continue
		}
		if used == nil {
			var err error
			if used, err = s.used(ctx); err != nil {
				return as, err
			}
		}
		need := s.needOf(a.Config)
		r := s.rulesFor(ctx, a, nodes)
		picked, reason := spread(nodes, used, need, missing, counts(a.Nodes), "", r)
		pending := reason
		if reason != "" && len(a.Nodes)+len(picked) > 0 {
			pending = fmt.Sprintf("%d of %d replicas placed; %s", len(a.Nodes)+len(picked), a.Replicas, reason)
		}
		if len(picked) == 0 && pending == a.Pending {
			continue
		}
		c := change{pending: pending}
		for i, n := range picked {
			u := used[n.ID]
			why := fmt.Sprintf("on %s (%s): needs %s and %s CPUs; the node had %s free of %s", n.Hostname, n.ID,
				sizeText(need.Memory), cpuText(need.CPUs), sizeText(int64(n.Facts.MemoryBytes)-u.Memory), sizeText(int64(n.Facts.MemoryBytes)))
			if r.warm[n.ID] {
				why += "; it has the release's image, so nothing is built"
			}
			if a.Replicas > 1 {
				why += fmt.Sprintf(" (replica %d of %d)", len(a.Nodes)+i+1, a.Replicas)
			}
			if cause != "" {
				why = cause + ": " + why
			}
			events = append(events, store.Event{Actor: "system", Action: "app.place", Target: a.Name, Detail: why})
			used[n.ID] = u.add(need, 1)
			c.picked = append(c.picked, n.ID)
		}
		if pending != "" && a.Pending == "" {
			// Only when it starts to wait: the reason may change with every
			// node that comes and goes, and thousands of apps may wait.
			s.log.Warn("app is pending", "app", a.Name, "reason", pending)
			events = append(events, store.Event{Actor: "system", Action: "app.pending", Target: a.Name, Detail: pending})
		}
		changes[a.Name] = c
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return as, nil
	}
	written, err := s.updateAll(ctx, names, func(x *store.App) error {
		c := changes[x.Name]
		x.Nodes = append(x.Nodes, c.picked...)
		x.Pending = c.pending
		return nil
	}, events)
	if err != nil {
		return as, err
	}
	byName := make(map[string]store.App, len(written))
	for _, a := range written {
		byName[a.Name] = a
		for _, id := range changes[a.Name].picked {
			s.pusher.Kick(id)
		}
	}
	out := slices.Clone(as)
	for i, a := range out {
		if w, ok := byName[a.Name]; ok {
			out[i] = w
		}
	}
	return out, nil
}

// setPending records why an app waits for a node, auditing when it starts
// to wait.
func (s *Service) setPending(app, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	changed := false
	_, err := s.update(ctx, app, func(x *store.App) error {
		changed = x.Pending == "" && reason != ""
		x.Pending = reason
		return nil
	})
	if err != nil {
		s.log.Error("record pending app", "app", app, "err", err)
		return
	}
	if changed {
		s.log.Warn("app is pending", "app", app, "reason", reason)
		s.system(ctx, "app.pending", app, reason)
	}
}

// supersedeWaiting fails the releases of an app that wait for room: a new
// deploy replaces them.
func (s *Service) supersedeWaiting(ctx context.Context, app string) {
	if r, ok := s.waiting(ctx, app); ok {
		r.Status, r.Error = api.ReleaseFailed, "replaced by a newer deploy before a node had room for it"
		if err := s.cfg.Store.UpdateRelease(ctx, r); err != nil {
			s.log.Error("record superseded release", "app", app, "release", r.Number, "err", err)
		}
	}
	if _, err := s.update(ctx, app, func(x *store.App) error { x.Pending = ""; return nil }); err != nil {
		s.log.Error("clear pending", "app", app, "err", err)
	}
}

// waiting returns the newest release of app if it is building but no build
// of it runs in this process: it waits for a node with room.
func (s *Service) waiting(ctx context.Context, app string) (store.Release, bool) {
	r, err := s.cfg.Store.LatestRelease(ctx, app) // not every release: each holds its build log
	if err != nil || r.Status != api.ReleaseBuilding {
		return store.Release{}, false
	}
	return r, !s.buildRuns(r)
}

// buildRuns tells whether a build of r runs in this process.
func (s *Service) buildRuns(r store.Release) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, running := s.builds[fmt.Sprintf("%s/%d", r.App, r.Number)]
	return running
}

// serving reports whether the instances a node reports may be routed to and
// shown: the node must be known and not down. A closed tunnel alone does not
// count: within the grace it is a blip, and the containers still serve.
func serving(nodes map[string]api.Node, nodeID string) bool {
	n, ok := nodes[nodeID]
	return ok && n.State == api.NodeReady
}

// schedule runs every Config.ScheduleEvery. It takes the replicas off down
// or forgotten nodes, places the replicas that wait for a node, builds the
// current release's image on the nodes of replicas that lack it, and
// starts the first build of apps that waited for room.
func (s *Service) schedule(ctx context.Context) {
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return
	}
	byID := nodeMap(nodes)
	var down []string
	for _, n := range nodes {
		if n.State != api.NodeReady {
			down = append(down, n.ID)
		}
	}
	sort.Strings(down)
	s.mu.Lock()
	downChanged := s.down != strings.Join(down, ",")
	s.down = strings.Join(down, ",")
	s.mu.Unlock()
	if downChanged && s.cfg.OnChange != nil {
		s.cfg.OnChange() // routes drop the instances of down nodes
	}
	as, err := s.cachedApps(ctx, "")
	if err != nil {
		return
	}
	var newest map[string]store.Release // read once a pass, when first needed
	waiting := func(app string) (store.Release, bool) {
		if newest == nil {
			if newest, err = s.cfg.Store.NewestBuilding(ctx); err != nil {
				s.log.Error("read the releases that build", "err", err)
				newest = map[string]store.Release{}
			}
		}
		r, ok := newest[app]
		return r, ok && !s.buildRuns(r)
	}
	var first []store.Release // first releases that wait for room
	defer func() { s.startFirst(ctx, nodes, first) }()
	for _, a := range as {
		if a.Release == 0 {
			if a.Pending == "" {
				continue
			}
			if r, ok := waiting(a.Name); ok {
				first = append(first, r)
			}
			continue
		}
		wasPending := a.Pending != ""
		lost := slices.ContainsFunc(a.Nodes, func(id string) bool { n, ok := byID[id]; return !ok || n.State == api.NodeDown })
		if lost || len(a.Nodes) < a.Replicas || (wasPending && len(a.Nodes) >= a.Replicas) {
			if a, err = s.replace(ctx, a.Name, nodes); err != nil {
				s.log.Error("place app", "app", a.Name, "err", err)
				continue
			}
		}
		if wasPending && slices.ContainsFunc(a.Nodes, func(id string) bool { return ready(byID[id]) }) {
			if r, ok := waiting(a.Name); ok {
				bl := s.startLog(a.Name, r.Number)
				go s.build(a.Name, r, bl) // a new release that waited for room
				continue
			}
		}
		s.ensureImages(ctx, a, byID)
	}
}

// startFirst places the apps whose first release waits for room, all with
// one write, and starts the build of each that got a node. An app scaled
// to 0 is placed inside its build (it only needs a node to build on).
func (s *Service) startFirst(ctx context.Context, nodes []api.Node, first []store.Release) {
	if len(first) == 0 {
		return
	}
	byID := nodeMap(nodes)
	start := map[string]bool{}
	s.placeMu.Lock()
	var as []store.App
	for _, r := range first {
		if a, err := s.cachedApp(ctx, r.App); err == nil && a.Replicas > 0 {
			as = append(as, a)
		} else if err == nil {
			start[a.Name] = true
		}
	}
	as, err := s.fillAll(ctx, as, nodes, "")
	s.placeMu.Unlock()
	if err != nil {
		s.log.Error("place apps", "err", err)
		return
	}
	for _, a := range as {
		start[a.Name] = slices.ContainsFunc(a.Nodes, func(id string) bool { return ready(byID[id]) })
	}
	for _, r := range first {
		if start[r.App] {
			bl := s.startLog(r.App, r.Number)
			go s.build(r.App, r, bl)
		}
	}
}

// replace moves the replicas of an app whose node is down or forgotten to
// nodes with room, and places every replica that waits for a node. A
// replica on a down node that no other node has room for stays there: the
// node may come back (a partition heals) with its container still running,
// and then serves again at once. The app is pending meanwhile, saying why.
func (s *Service) replace(ctx context.Context, app string, nodes []api.Node) (store.App, error) {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	byID := nodeMap(nodes)
	a, err := s.cachedApp(ctx, app)
	if err != nil {
		return a, err
	}
	var kept, down, forgotten []string
	for _, id := range a.Nodes {
		switch n, ok := byID[id]; {
		case !ok:
			forgotten = append(forgotten, id)
		case n.State == api.NodeDown:
			down = append(down, id)
		default:
			kept = append(kept, id)
		}
	}
	waitReason := ""
	if len(down) > 0 {
		used, err := s.used(ctx)
		if err != nil {
			return a, err
		}
		picked, reason := spread(nodes, used, s.needOf(a.Config), len(down), counts(kept), "", s.rulesFor(ctx, a, nodes))
		if stay := len(down) - len(picked); stay > 0 {
			kept = append(kept, down[:stay]...)
			waitReason = fmt.Sprintf("%d of %d replicas wait on %s (down); %s", stay, a.Replicas, s.hostnames(down[:stay], byID), reason)
		}
	}
	var next, gone []string // a.Nodes in order, less what leaves (a node may hold several)
	left := counts(kept)
	for _, id := range a.Nodes {
		if left[id] > 0 {
			left[id]--
			next = append(next, id)
		} else {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		if a, err = s.update(ctx, app, func(x *store.App) error { x.Nodes = next; return nil }); err != nil {
			return a, err
		}
		s.log.Info("rescheduling replicas", "app", app, "from", gone)
	}
	cause := ""
	if len(gone) > 0 {
		cause = "reschedule from " + s.hostnames(gone, byID)
	}
	if a, err = s.fill(ctx, a, nodes, cause); err != nil || waitReason == "" || a.Pending == waitReason {
		return a, err
	}
	if a, err = s.update(ctx, app, func(x *store.App) error { x.Pending = waitReason; return nil }); err == nil {
		s.log.Warn("app is pending", "app", app, "reason", waitReason)
		s.system(ctx, "app.pending", app, waitReason)
	}
	return a, err
}

// hostnames names nodes for people: "node1 (down), n-1234".
func (s *Service) hostnames(ids []string, byID map[string]api.Node) string {
	var names []string
	for _, id := range ids {
		if n, ok := byID[id]; ok {
			names = append(names, n.Hostname+" ("+n.State+")")
		} else {
			names = append(names, id)
		}
	}
	return strings.Join(slices.Compact(names), ", ")
}

// ensureImages starts a build of the app's current release on every node
// of its replicas that lacks the image: a replica runs only where its
// image is. Builds on several nodes run in parallel.
func (s *Service) ensureImages(ctx context.Context, a store.App, byID map[string]api.Node) {
	var image string
	for _, id := range slices.Compact(slices.Sorted(slices.Values(a.Nodes))) {
		if !ready(byID[id]) {
			continue
		}
		if image == "" {
			if image = s.imageOf(ctx, a.Name, a.Release); image == "" {
				return
			}
		}
		has, known := s.hasImage(id, a.Name, image)
		if has || !known {
			continue
		}
		key := id + " " + image
		s.mu.Lock()
		busy, b := s.building[key], s.retry[key]
		if !busy && !time.Now().Before(b.next) {
			s.building[key] = true
		} else {
			busy = true
		}
		s.mu.Unlock()
		if !busy {
			go s.replicate(a.Name, a.Release, byID[id], key)
		}
	}
}

// imageOf returns the image of a ready release that has a source to build
// it from ("" otherwise). Ready releases do not change, so it is kept.
func (s *Service) imageOf(ctx context.Context, app string, n int) string {
	key := fmt.Sprintf("%s/%d", app, n)
	s.mu.Lock()
	img, ok := s.images[key]
	s.mu.Unlock()
	if ok {
		return img
	}
	r, err := s.cfg.Store.Release(ctx, app, n)
	if err != nil || r.Status != api.ReleaseReady || r.Source == "" {
		return ""
	}
	s.mu.Lock()
	s.images[key] = r.Image
	s.mu.Unlock()
	return r.Image
}

// hasImage tells whether a node has an app's image, as far as its reports
// and this master's builds say; known is false before the node reported
// (or for agents that do not report images).
func (s *Service) hasImage(nodeID, app, image string) (has, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep, ok := s.reports[nodeID]
	if !ok || rep.Images == nil {
		return true, false
	}
	at, ok := s.built[nodeID+" "+image]
	return slices.Contains(rep.Images[app], image) || (ok && time.Since(at) < builtFresh), true
}

// builtFresh is how long a build this master saw succeed counts as the
// node having the image, if the node's reports do not say so first.
const builtFresh = 30 * time.Second

// markBuilt notes that a node has just built an image.
func (s *Service) markBuilt(nodeID, image string) {
	s.mu.Lock()
	s.built[nodeID+" "+image] = time.Now()
	s.mu.Unlock()
}

// replicate builds release n of app on a node that is to run a replica of
// it, from the source the master holds.
func (s *Service) replicate(app string, n int, node api.Node, key string) {
	s.mu.Lock()
	base := s.ctx
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, s.cfg.BuildTimeout)
	defer cancel()
	err := func() error {
		a, err := s.cachedApp(ctx, app)
		if err != nil {
			return err
		}
		r, err := s.cfg.Store.Release(ctx, app, n)
		if err != nil {
			return err
		}
		bl := &buildLog{notify: make(chan struct{})}
		s.log.Info("building a replica's image", "app", app, "release", n, "node", node.ID)
		start := time.Now()
		res, _, err := s.buildOn(ctx, a, &r, bl, node)
		if err == nil && !res.OK {
			err = errors.New(res.Error)
		}
		if err != nil {
			return err
		}
		s.markBuilt(node.ID, r.Image)
		s.log.Info("built a replica's image", "app", app, "release", n, "node", node.ID, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}()
	s.mu.Lock()
	delete(s.building, key)
	if err == nil {
		delete(s.retry, key)
	} else {
		b := s.retry[key]
		b.failures++
		b.next = time.Now().Add(min(firstBackoff<<min(b.failures-1, 10), maxBackoff))
		s.retry[key] = b
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("build a replica's image", "app", app, "release", n, "node", node.ID, "err", err)
		s.system(context.Background(), "app.move.failed", app, fmt.Sprintf("build of release %d on %s: %v", n, node.Hostname, err))
		return
	}
	s.pusher.Kick(node.ID)
}

// healthyOn counts the healthy instances of an app's release on a node.
func (s *Service) healthyOn(nodeID, app string, release int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for _, in := range s.reports[nodeID].Instances {
		if in.App == app && in.Release == release && in.State == proto.InstanceHealthy {
			k++
		}
	}
	return k
}

// system writes an audit event made by the scheduler, not a user.
func (s *Service) system(ctx context.Context, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, "system", action, target, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}

func truncateLog(s string) string {
	if len(s) > maxKeptLog {
		return "[... earlier output cut ...]\n" + s[len(s)-maxKeptLog:]
	}
	return s
}

// Scale sets how many replicas of an app run. Fewer: replicas leave (off
// down nodes first, then from the nodes with the most), each out of the
// proxies' routes before it stops. More: they are placed at once where
// they fit, the rest wait with the reason.
func (s *Service) Scale(ctx context.Context, who store.User, name string, replicas int) (api.App, error) {
	if replicas < 0 || replicas > MaxReplicas {
		return api.App{}, api.Errorf(api.CodeBadRequest, "replicas %d is out of range: use 0 to %d", replicas, MaxReplicas)
	}
	a, err := s.app(ctx, who, name)
	if err != nil {
		return api.App{}, err
	}
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return api.App{}, err
	}
	byID := nodeMap(nodes)
	from := a.Replicas
	s.placeMu.Lock()
	var dropped []string
	a, err = s.update(ctx, a.Name, func(x *store.App) error {
		from = x.Replicas
		x.Replicas = replicas
		x.Nodes, dropped = shrink(x.Nodes, replicas, byID)
		if replicas == 0 {
			x.Pending = ""
		}
		return nil
	})
	if err == nil && a.Release > 0 {
		a, err = s.fill(ctx, a, nodes, "scale")
	}
	s.placeMu.Unlock()
	if err != nil {
		return api.App{}, err
	}
	for _, id := range slices.Compact(slices.Sorted(slices.Values(dropped))) {
		s.pusher.Kick(id)
	}
	s.audit(ctx, who, "app.scale", a.Name, fmt.Sprintf("%d -> %d", from, replicas))
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	return s.Get(ctx, who, a.Name)
}

// shrink takes replicas off nodes until n are left: off nodes that are not
// ready first, then off the node with the most of them (the latest placed
// when tied). It returns what is left and the nodes replicas left.
func shrink(nodes []string, n int, byID map[string]api.Node) (kept, dropped []string) {
	kept = slices.Clone(nodes)
	for len(kept) > n {
		c := counts(kept)
		drop := -1
		for i := len(kept) - 1; i >= 0; i-- {
			id := kept[i]
			if byID[id].State != api.NodeReady {
				drop = i
				break
			}
			if drop < 0 || c[id] > c[kept[drop]] {
				drop = i
			}
		}
		dropped = append(dropped, kept[drop])
		kept = slices.Delete(kept, drop, drop+1)
	}
	return kept, dropped
}

// Drain moves every replica off a node, one at a time, each new instance
// healthy before the old one stops. The node should be cordoned first, so
// nothing new lands on it. It returns at once; the moves go on in the
// background.
func (s *Service) Drain(ctx context.Context, nodeID string) ([]string, error) {
	as, err := s.cachedApps(ctx, "")
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, a := range as {
		if slices.Contains(a.Nodes, nodeID) {
			names = append(names, a.Name)
		}
	}
	s.mu.Lock()
	base := s.ctx
	s.mu.Unlock()
	go func() {
		for _, app := range names {
			for {
				err := s.moveOff(base, app, nodeID)
				if errors.Is(err, errNotThere) {
					break
				}
				if err != nil {
					s.log.Warn("drain: replica not moved", "node", nodeID, "app", app, "err", err)
					s.system(context.Background(), "app.move.failed", app, "drain of "+nodeID+": "+err.Error())
					break
				}
			}
		}
	}()
	return names, nil
}

var errNotThere = errors.New("no replica on the node")

// moveOff moves one replica of app off a node: the new node builds the
// image and runs it, the old node keeps its instance until then, and lets
// it go (out of the routes, then stopped) once the new one is healthy.
func (s *Service) moveOff(ctx context.Context, app, from string) error {
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return err
	}
	s.placeMu.Lock()
	a, err := s.cachedApp(ctx, app)
	if err != nil || !slices.Contains(a.Nodes, from) {
		s.placeMu.Unlock()
		if err == nil {
			err = errNotThere
		}
		return err
	}
	if a.Release == 0 {
		// Nothing runs yet: the replica is placed afresh at the next build.
		_, err = s.update(ctx, app, func(x *store.App) error {
			if i := slices.Index(x.Nodes, from); i >= 0 {
				x.Nodes = slices.Delete(x.Nodes, i, i+1)
			}
			return nil
		})
		s.placeMu.Unlock()
		return err
	}
	used, err := s.used(ctx)
	if err != nil {
		s.placeMu.Unlock()
		return err
	}
	have := counts(a.Nodes)
	have[from]--
	need := s.needOf(a.Config)
	r := s.rulesFor(ctx, a, nodes)
	picked, reason := spread(nodes, used, need, 1, have, from, r)
	if len(picked) == 0 {
		s.placeMu.Unlock()
		return &noRoomError{"no other node has room: " + reason}
	}
	to := picked[0]
	warm := ""
	if r.warm[to.ID] {
		warm = "; it has the release's image, so nothing is built"
	}
	a, err = s.update(ctx, app, func(x *store.App) error {
		if i := slices.Index(x.Nodes, from); i >= 0 {
			x.Nodes[i] = to.ID
		}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		if s.keep[app] == nil {
			s.keep[app] = map[string]int{}
		}
		s.keep[app][from]++
		s.mu.Unlock()
	}
	s.placeMu.Unlock()
	if err != nil {
		return err
	}
	free := int64(to.Facts.MemoryBytes) - used[to.ID].Memory
	s.system(ctx, "app.place", app, fmt.Sprintf("drain of %s: on %s (%s): needs %s and %s CPUs; the node had %s free of %s%s",
		from, to.Hostname, to.ID, sizeText(need.Memory), cpuText(need.CPUs), sizeText(free), sizeText(int64(to.Facts.MemoryBytes)), warm))
	s.log.Info("moving a replica", "app", app, "from", from, "to", to.ID)
	s.pusher.Kick(to.ID)
	release := func() {
		s.mu.Lock()
		if s.keep[app][from]--; s.keep[app][from] <= 0 {
			delete(s.keep[app], from)
		}
		s.mu.Unlock()
		s.pusher.Kick(from) // it lets its instance go
	}
	err = s.waitRunning(ctx, a, to.ID)
	if err != nil {
		// Back where it was: the drained node still runs it.
		s.placeMu.Lock()
		s.update(context.Background(), app, func(x *store.App) error {
			if i := slices.Index(x.Nodes, to.ID); i >= 0 {
				x.Nodes[i] = from
			}
			return nil
		})
		s.placeMu.Unlock()
		release()
		s.pusher.Kick(to.ID)
		return err
	}
	release()
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	s.log.Info("replica moved", "app", app, "to", to.ID)
	return nil
}

// waitRunning waits until a node runs, healthy, as many instances of the
// app's current release as it holds replicas of it.
func (s *Service) waitRunning(ctx context.Context, a store.App, node string) error {
	within := s.cfg.BuildTimeout + 3*time.Minute
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		cur, err := s.cachedApp(ctx, a.Name)
		if err != nil {
			return err
		}
		want := counts(cur.Nodes)[node]
		if want == 0 {
			return fmt.Errorf("the replica of %s left %s while it moved there", a.Name, node)
		}
		if s.healthyOn(node, a.Name, cur.Release) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for release %d of %s to be healthy on its new node: it is not", within, cur.Release, a.Name)
		case <-t.C:
		}
	}
}
