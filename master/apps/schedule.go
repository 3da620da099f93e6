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

// noRoomError says that no node can take an app now.
type noRoomError struct{ reason string }

func (e *noRoomError) Error() string { return e.reason }

// backoff spaces out the moves of an app whose last move failed, so a bad
// app cannot keep the cluster rebuilding it.
type backoff struct {
	failures int
	next     time.Time
}

const (
	firstBackoff = 2 * time.Second
	maxBackoff   = 2 * time.Minute
)

// handoff is an app a draining node keeps until its new node runs it.
type handoff struct {
	from    string // the draining node
	leaving bool   // the proxies no longer route to it there
}

// place returns the node an app runs on. An app stays on its node while
// that node is ready and connected (cordoned or not); otherwise it gets the
// app node with the most free memory that fits it. When none fits, the
// error is a *noRoomError with the reason.
func (s *Service) place(ctx context.Context, a store.App) (api.Node, error) {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return api.Node{}, err
	}
	for _, n := range nodes {
		if n.ID == a.NodeID && n.State == api.NodeReady && n.Connected && slices.Contains(n.Roles, proto.RoleApp) {
			return n, nil
		}
	}
	n, why, err := s.pick(ctx, a, nodes, "")
	if err != nil {
		return api.Node{}, err
	}
	if _, err := s.cfg.Store.UpdateApp(ctx, a.Name, func(x *store.App) error { x.NodeID, x.Pending = n.ID, ""; return nil }); err != nil {
		return api.Node{}, err
	}
	s.system(ctx, "app.place", a.Name, why)
	if a.NodeID != "" {
		s.pusher.Kick(a.NodeID) // the old node lets go of it
	}
	return n, nil
}

// pick chooses a node for a (not skip) and says why, for the audit log.
func (s *Service) pick(ctx context.Context, a store.App, nodes []api.Node, skip string) (api.Node, string, error) {
	used, err := s.used(ctx, a.Name)
	if err != nil {
		return api.Node{}, "", err
	}
	need := s.memoryOf(a.Config)
	n, reason := choose(nodes, used, need, skip)
	if reason != "" {
		return api.Node{}, "", &noRoomError{reason}
	}
	free := int64(n.Facts.MemoryBytes) - used[n.ID]
	return n, fmt.Sprintf("on %s (%s): needs %s, the node had %s free of %s", n.Hostname, n.ID,
		sizeText(need), sizeText(free), sizeText(int64(n.Facts.MemoryBytes))), nil
}

// setPending records why an app waits for a node, auditing changes.
func (s *Service) setPending(app, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	changed := false
	_, err := s.cfg.Store.UpdateApp(ctx, app, func(x *store.App) error {
		changed = x.Pending != reason
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
	if _, err := s.cfg.Store.UpdateApp(ctx, app, func(x *store.App) error { x.Pending = ""; return nil }); err != nil {
		s.log.Error("clear pending", "app", app, "err", err)
	}
}

// waiting returns the newest release of app if it is building but no build
// of it runs in this process: it waits for a node with room.
func (s *Service) waiting(ctx context.Context, app string) (store.Release, bool) {
	rs, err := s.cfg.Store.Releases(ctx, app)
	if err != nil || len(rs) == 0 || rs[0].Status != api.ReleaseBuilding {
		return store.Release{}, false
	}
	s.mu.Lock()
	_, running := s.builds[fmt.Sprintf("%s/%d", app, rs[0].Number)]
	s.mu.Unlock()
	return rs[0], !running
}

// serving reports whether the instances a node reports may be routed to and
// shown: the node must be known and not down. A closed tunnel alone does not
// count: within the grace it is a blip, and the containers still serve.
func serving(nodes map[string]api.Node, nodeID string) bool {
	n, ok := nodes[nodeID]
	return ok && n.State == api.NodeReady
}

// schedule places what waits: pending apps, and apps whose node is down or
// gone. It runs every Config.ScheduleEvery.
func (s *Service) schedule(ctx context.Context) {
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return
	}
	byID := map[string]api.Node{}
	var down []string
	for _, n := range nodes {
		byID[n.ID] = n
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
	as, err := s.cfg.Store.Apps(ctx, "")
	if err != nil {
		return
	}
	for _, a := range as {
		n, known := byID[a.NodeID]
		lost := a.NodeID != "" && (!known || n.State == api.NodeDown)
		if a.Pending == "" && !lost {
			continue
		}
		s.mu.Lock()
		busy, b := s.moving[a.Name], s.retry[a.Name]
		s.mu.Unlock()
		if busy || time.Now().Before(b.next) {
			continue
		}
		if r, ok := s.waiting(ctx, a.Name); ok && a.Pending != "" {
			if _, _, err := s.pickLocked(ctx, a, nodes, ""); err != nil {
				s.noRoom(a.Name, err)
				continue
			}
			bl := s.startLog(a.Name, r.Number)
			go s.build(a.Name, r, bl) // placed inside, under the placement lock
			continue
		}
		if !lost {
			// Pending for a move, but its node came back: nothing waits now.
			if _, err := s.cfg.Store.UpdateApp(ctx, a.Name, func(x *store.App) error { x.Pending = ""; return nil }); err != nil {
				s.log.Error("clear pending", "app", a.Name, "err", err)
			}
			continue
		}
		if a.Release == 0 {
			continue
		}
		cause := "reschedule from " + a.NodeID
		if known {
			cause = "reschedule from " + n.Hostname + " (down)"
		}
		s.startMove(a, cause, false)
	}
}

// pickLocked is pick under the placement lock.
func (s *Service) pickLocked(ctx context.Context, a store.App, nodes []api.Node, skip string) (api.Node, string, error) {
	s.placeMu.Lock()
	defer s.placeMu.Unlock()
	return s.pick(ctx, a, nodes, skip)
}

// noRoom records why an app could not be placed; other errors are logged.
func (s *Service) noRoom(app string, err error) {
	if nr := (*noRoomError)(nil); errors.As(err, &nr) {
		s.setPending(app, nr.reason)
		return
	}
	s.log.Error("place app", "app", app, "err", err)
}

// startMove moves an app to another node in the background, unless a move
// of it already runs. With keep, its node keeps running it until the new
// node does (a drain); without, its node is gone.
func (s *Service) startMove(a store.App, cause string, keep bool) chan error {
	done := make(chan error, 1)
	s.mu.Lock()
	if s.moving[a.Name] {
		s.mu.Unlock()
		done <- fmt.Errorf("app %s is already being moved", a.Name)
		return done
	}
	s.moving[a.Name] = true
	base := s.ctx
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(base, s.cfg.BuildTimeout+5*time.Minute)
		defer cancel()
		err := s.move(ctx, a, cause, keep)
		s.mu.Lock()
		delete(s.moving, a.Name)
		if err == nil {
			delete(s.retry, a.Name)
		} else if nr := (*noRoomError)(nil); !errors.As(err, &nr) {
			b := s.retry[a.Name]
			b.failures++
			b.next = time.Now().Add(min(firstBackoff<<(b.failures-1), maxBackoff))
			s.retry[a.Name] = b
		}
		s.mu.Unlock()
		if nr := (*noRoomError)(nil); errors.As(err, &nr) {
			s.setPending(a.Name, nr.reason)
		} else if err != nil {
			s.log.Error("move app", "app", a.Name, "cause", cause, "err", err)
			s.system(context.Background(), "app.move.failed", a.Name, cause+": "+err.Error())
		}
		done <- err
	}()
	return done
}

// move rebuilds an app's current release on another node from the source
// the master holds, then makes that node the app's. The release keeps its
// number: its source, env and settings are unchanged.
func (s *Service) move(ctx context.Context, a store.App, cause string, keep bool) error {
	from := a.NodeID
	r, err := s.cfg.Store.Release(ctx, a.Name, a.Release)
	if err != nil {
		return err
	}
	if r.Source == "" {
		return fmt.Errorf("release %d has no source to rebuild from", r.Number)
	}
	nodes, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return err
	}
	if keep {
		s.mu.Lock()
		s.handoff[a.Name] = handoff{from: from}
		s.mu.Unlock()
	}
	s.placeMu.Lock()
	to, why, err := s.pick(ctx, a, nodes, from)
	if err == nil {
		// Reserve the room now: the app counts on its new node while it
		// builds, but the node is not asked to run it before it has the image.
		s.mu.Lock()
		s.unbuilt[a.Name] = to.ID
		s.mu.Unlock()
		_, err = s.cfg.Store.UpdateApp(ctx, a.Name, func(x *store.App) error { x.NodeID, x.Pending = to.ID, ""; return nil })
	}
	s.placeMu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.unbuilt, a.Name)
		s.mu.Unlock()
	}()
	if err != nil {
		s.endHandoff(a.Name)
		return err
	}
	s.system(ctx, "app.place", a.Name, cause+": "+why)
	s.log.Info("moving app", "app", a.Name, "from", from, "to", to.ID, "cause", cause)
	bl := &buildLog{notify: make(chan struct{})}
	bl.printf("==> %s: rebuilding release %d on %s", cause, r.Number, to.Hostname)
	res, _, err := s.buildOn(ctx, a, &r, bl, to)
	if err == nil && !res.OK {
		err = errors.New(res.Error)
	}
	if err != nil {
		// Back to where it was: a drained node still runs it, a down one may return.
		s.cfg.Store.UpdateApp(context.Background(), a.Name, func(x *store.App) error { x.NodeID = from; return nil })
		s.endHandoff(a.Name)
		return fmt.Errorf("rebuild on %s: %w", to.Hostname, err)
	}
	r.BuildNode = to.ID
	r.BuildLog = truncateLog(r.BuildLog + "\n" + bl.kept())
	if err := s.cfg.Store.UpdateRelease(ctx, r); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.unbuilt, a.Name)
	s.mu.Unlock()
	s.pusher.Kick(to.ID)
	if keep {
		if err := s.waitHealthy(ctx, a.Name, r.Number, to.ID); err != nil {
			// The old node keeps it; the new one lets go.
			s.cfg.Store.UpdateApp(context.Background(), a.Name, func(x *store.App) error { x.NodeID = from; return nil })
			s.endHandoff(a.Name)
			s.pusher.Kick(to.ID)
			return err
		}
		// Stop routing to the old instance before it stops.
		s.mu.Lock()
		s.handoff[a.Name] = handoff{from: from, leaving: true}
		s.mu.Unlock()
		if s.cfg.OnChange != nil {
			s.cfg.OnChange()
		}
		select {
		case <-ctx.Done():
		case <-time.After(routeSettle):
		}
		s.endHandoff(a.Name)
	}
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	s.log.Info("app moved", "app", a.Name, "to", to.ID)
	return nil
}

// routeSettle is how long a drain waits, after taking an instance out of
// the routes, for the proxies to have the new routes before it stops.
const routeSettle = 2 * time.Second

func (s *Service) endHandoff(app string) {
	s.mu.Lock()
	h, ok := s.handoff[app]
	delete(s.handoff, app)
	s.mu.Unlock()
	if ok {
		s.pusher.Kick(h.from)
	}
}

// waitHealthy waits until node reports a healthy instance of the release.
func (s *Service) waitHealthy(ctx context.Context, app string, release int, node string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		for _, in := range s.reports[node].Instances {
			if in.App == app && in.Release == release && in.State == proto.InstanceHealthy {
				s.mu.Unlock()
				return nil
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited 3m for release %d of %s to be healthy on its new node: it is not", release, app)
		case <-t.C:
		}
	}
}

func truncateLog(s string) string {
	if len(s) > maxKeptLog {
		return "[... earlier output cut ...]\n" + s[len(s)-maxKeptLog:]
	}
	return s
}

// system writes an audit event made by the scheduler, not a user.
func (s *Service) system(ctx context.Context, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, "system", action, target, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}

// Drain moves every app off a node, one at a time, each new instance healthy
// before the old one stops. The node should be cordoned first, so nothing
// new lands on it. It returns at once; the moves go on in the background.
func (s *Service) Drain(ctx context.Context, nodeID string) ([]string, error) {
	as, err := s.cfg.Store.Apps(ctx, "")
	if err != nil {
		return nil, err
	}
	var todo []store.App
	names := []string{}
	for _, a := range as {
		if a.NodeID == nodeID {
			todo = append(todo, a)
			names = append(names, a.Name)
		}
	}
	go func() {
		for _, a := range todo {
			if a.Release == 0 {
				// Nothing runs yet: it is placed afresh at its next build.
				if _, err := s.cfg.Store.UpdateApp(context.Background(), a.Name, func(x *store.App) error {
					if x.NodeID == nodeID {
						x.NodeID = ""
					}
					return nil
				}); err != nil {
					s.log.Error("unplace app", "app", a.Name, "err", err)
				}
				continue
			}
			if err := <-s.startMove(a, "drain of "+nodeID, true); err != nil {
				s.log.Warn("drain: app not moved", "node", nodeID, "app", a.Name, "err", err)
			}
		}
	}()
	return names, nil
}
