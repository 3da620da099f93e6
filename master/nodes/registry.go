package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gasper/api"
	"gasper/internal/jointoken"
	"gasper/master/auth"
	"gasper/master/store"
	"gasper/proto"
)

// Config configures a Registry.
type Config struct {
	// Store is the master's database.
	Store *store.Store
	// CACertDER is the tunnel CA's certificate; join tokens pin its hash.
	CACertDER []byte
	// Interval is how often agents send heartbeats.
	Interval time.Duration
	// Grace is how long a node may stay silent before it is down.
	Grace time.Duration
	// Logger receives state changes.
	Logger *slog.Logger
	// OnReturn, if set, is called (in its own goroutine) when a down node is
	// heard from again. The node stays down until Ready is called for it:
	// whoever is told must first make it stop what now runs elsewhere. Unset,
	// a returning node is ready at once.
	OnReturn func(nodeID string)
	// OnChange, if set, is called after every write of a node row: a node
	// joined, went down, came back, was cordoned or uncordoned, or removed.
	// It must not block.
	OnChange func()
}

// Registry tracks nodes. It is safe for concurrent use.
type Registry struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	live map[string]*live // by node id, for every node in the store
	rows rows             // the store's node rows, between writes
}

type live struct {
	state     string
	connected bool
	lastSeen  time.Time
	saved     time.Time // lastSeen as last written to the store
	usage     api.NodeUsage
	returning bool      // down, heard from again, OnReturn running
	notBefore time.Time // not marked down before then (the master just started)
}

// persistEvery bounds how stale a node's last-seen time in the store may be.
const persistEvery = 10 * time.Second

// ReconnectSlack is what a node that was ready gets on top of the grace
// after the master starts: its agent retries a lost master with a backoff of
// up to 2s (and a connect timeout of 3s), so it may take that long to notice
// the master is back. Nodes are not judged by heartbeats missed while the
// master itself was down.
const ReconnectSlack = 10 * time.Second

// New loads the known nodes. A node the store says is ready gets the grace
// plus ReconnectSlack from now to reconnect, so a master restart does not
// mark the cluster down.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{cfg: cfg, log: cfg.Logger.With("component", "nodes"), live: map[string]*live{}}
	ns, err := cfg.Store.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("load nodes: %w", err)
	}
	start := time.Now()
	for _, n := range ns {
		l := &live{state: n.State, lastSeen: start, notBefore: start.Add(cfg.Grace + ReconnectSlack)}
		if n.LastSeen != nil {
			l.saved = *n.LastSeen
			if n.State == api.NodeDown {
				l.lastSeen = *n.LastSeen
			}
		}
		r.live[n.ID] = l
	}
	return r, nil
}

// Join redeems a join token for a new node identity. It implements the
// tunnel's Authority.
func (r *Registry) Join(ctx context.Context, token string, facts proto.Facts) (string, string, error) {
	tok, err := jointoken.Parse(token)
	if err != nil {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: err.Error()}
	}
	if tok.CAHash != jointoken.CAHash(r.cfg.CACertDER) {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "the join token was made by another master (its CA fingerprint differs)"}
	}
	jt, err := r.cfg.Store.JoinToken(ctx, tok.ID)
	if errors.Is(err, api.ErrNotFound) || (err == nil && !auth.SecretMatches(tok.Secret, jt.SecretHash)) {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "the join token is not known to this master"}
	}
	if err != nil {
		return "", "", err
	}
	if time.Now().After(jt.ExpiresAt) {
		return "", "", &proto.Error{Code: proto.ErrTokenExpired,
			Message: fmt.Sprintf("the join token expired at %s", jt.ExpiresAt.Format(time.RFC3339))}
	}
	if err := validFacts(facts); err != nil {
		return "", "", err
	}
	credential := auth.Secret(32)
	now := time.Now()
	n := store.Node{
		ID:             store.NewID("n-"),
		Hostname:       facts.Hostname,
		Advertise:      facts.Advertise,
		Roles:          facts.Roles,
		State:          api.NodeReady,
		CredentialHash: auth.HashSecret(credential),
		Facts:          apiFacts(facts),
		JoinedAt:       now,
		LastSeen:       &now,
	}
	if err := r.wrote(r.cfg.Store.CreateNode(ctx, n)); err != nil {
		return "", "", fmt.Errorf("record node: %w", err)
	}
	r.cfg.Store.Audit(ctx, "node:"+n.ID, "node.join", n.ID, fmt.Sprintf("hostname=%s advertise=%s roles=%v token=%s", n.Hostname, n.Advertise, n.Roles, tok.ID))
	r.mu.Lock()
	r.live[n.ID] = &live{state: api.NodeReady, lastSeen: now, saved: now}
	r.mu.Unlock()
	r.log.Info("node joined", "node", n.ID, "hostname", n.Hostname, "advertise", n.Advertise, "roles", n.Roles)
	return n.ID, credential, nil
}

// Authenticate checks a returning node's credential and records its facts.
// It implements the tunnel's Authority.
func (r *Registry) Authenticate(ctx context.Context, nodeID, credential string, facts proto.Facts) error {
	n, err := r.cfg.Store.Node(ctx, nodeID)
	if errors.Is(err, api.ErrNotFound) || (err == nil && !auth.SecretMatches(credential, n.CredentialHash)) {
		return &proto.Error{Code: proto.ErrNodeUnknown, Message: "node " + nodeID + " is not a member of this cluster (it was removed, or its credential is wrong)"}
	}
	if err != nil {
		return err
	}
	if err := validFacts(facts); err != nil {
		return err
	}
	return r.wrote(r.cfg.Store.UpdateNodeFacts(ctx, nodeID, facts.Hostname, facts.Advertise, facts.Roles, apiFacts(facts)))
}

func validFacts(f proto.Facts) error {
	bad := func(msg string) error { return &proto.Error{Code: proto.ErrBadHello, Message: msg} }
	if f.Hostname == "" || len(f.Hostname) > 253 {
		return bad("hostname must be 1 to 253 characters")
	}
	if f.Advertise == "" || len(f.Advertise) > 253 {
		return bad("advertise address must be 1 to 253 characters")
	}
	seen := map[string]bool{}
	for _, role := range f.Roles {
		known := false
		for _, r := range proto.AllRoles {
			known = known || r == role
		}
		if !known || seen[role] {
			return bad(fmt.Sprintf("unknown or repeated role %q (roles: %v)", role, proto.AllRoles))
		}
		seen[role] = true
	}
	return nil
}

func apiFacts(f proto.Facts) api.NodeFacts {
	return api.NodeFacts{
		CPUs: f.CPUs, MemoryBytes: f.MemoryBytes, DiskBytes: f.DiskBytes,
		ContainerdVersion: f.ContainerdVersion, KernelVersion: f.KernelVersion,
		AgentVersion: f.AgentVersion, OS: f.OS, Arch: f.Arch, SSHAddr: f.SSHAddr,
	}
}

// Connected records that a node's tunnel is up: it counts as a heartbeat.
func (r *Registry) Connected(nodeID string, _ proto.Facts) {
	r.heard(nodeID, nil)
	r.mu.Lock()
	if l := r.live[nodeID]; l != nil {
		l.connected = true
	}
	r.mu.Unlock()
}

// Disconnected records that a node's tunnel closed. The node stays ready
// until its grace runs out: a reconnect within the grace is not an outage.
func (r *Registry) Disconnected(nodeID string) {
	r.mu.Lock()
	if l := r.live[nodeID]; l != nil {
		l.connected = false
	}
	r.mu.Unlock()
}

// Heartbeat records a heartbeat and returns the node's state.
func (r *Registry) Heartbeat(nodeID string, hb proto.Heartbeat) string {
	u := api.NodeUsage(hb.Usage)
	return r.heard(nodeID, &u)
}

func (r *Registry) heard(nodeID string, usage *api.NodeUsage) string {
	r.mu.Lock()
	l := r.live[nodeID]
	if l == nil {
		r.mu.Unlock()
		return ""
	}
	now := time.Now()
	l.lastSeen, l.notBefore = now, time.Time{}
	if usage != nil {
		l.usage = *usage
	}
	back := l.state == api.NodeDown
	if back && r.cfg.OnReturn != nil {
		// Not ready yet: first it must be told what moved away.
		tell := !l.returning
		l.returning = true
		r.mu.Unlock()
		if tell {
			r.log.Info("down node is back; telling it what moved away before it is ready", "node", nodeID)
			go r.cfg.OnReturn(nodeID)
		}
		return api.NodeDown
	}
	if back {
		l.state = api.NodeReady
		l.saved = now
	}
	state := l.state
	r.mu.Unlock()
	if back {
		r.markedReady(nodeID, now)
	}
	return state
}

func (r *Registry) markedReady(nodeID string, now time.Time) {
	r.log.Info("node is back", "node", nodeID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.wrote(r.cfg.Store.SetNodeState(ctx, nodeID, api.NodeReady, now)); err != nil {
		r.log.Error("record node state", "node", nodeID, "err", err)
	}
	r.cfg.Store.Audit(ctx, "system", "node.ready", nodeID, "")
}

// Returning reports whether a down node has been heard from again and waits
// for Ready (see Config.OnReturn). It stops returning when it falls silent
// for the grace again.
func (r *Registry) Returning(nodeID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.live[nodeID]
	return l != nil && l.returning
}

// Ready makes a returning node ready. It reports false if the node is not
// returning (it fell silent again, or was removed).
func (r *Registry) Ready(nodeID string) bool {
	r.mu.Lock()
	l := r.live[nodeID]
	if l == nil || !l.returning {
		r.mu.Unlock()
		return false
	}
	now := time.Now()
	l.returning, l.state, l.saved = false, api.NodeReady, now
	r.mu.Unlock()
	r.markedReady(nodeID, now)
	return true
}

// IssueJoinToken creates a join token valid for ttl.
func (r *Registry) IssueJoinToken(ctx context.Context, createdBy string, ttl time.Duration) (jointoken.Token, time.Time, error) {
	tok, err := jointoken.New(r.cfg.CACertDER)
	if err != nil {
		return jointoken.Token{}, time.Time{}, err
	}
	now := time.Now()
	jt := store.JoinToken{ID: tok.ID, SecretHash: auth.HashSecret(tok.Secret), CreatedBy: createdBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := r.cfg.Store.CreateJoinToken(ctx, jt); err != nil {
		return jointoken.Token{}, time.Time{}, fmt.Errorf("record join token: %w", err)
	}
	return tok, jt.ExpiresAt, nil
}

// SetCordoned cordons a node (it takes no new placements) or uncordons it.
func (r *Registry) SetCordoned(ctx context.Context, nodeID string, cordoned bool) error {
	return r.wrote(r.cfg.Store.SetNodeCordoned(ctx, nodeID, cordoned))
}

// Remove forgets a node.
func (r *Registry) Remove(ctx context.Context, nodeID string) error {
	if err := r.wrote(r.cfg.Store.DeleteNode(ctx, nodeID)); err != nil {
		return err
	}
	r.mu.Lock()
	delete(r.live, nodeID)
	r.mu.Unlock()
	return nil
}

// Run marks silent nodes down and saves last-seen times until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	tick := r.cfg.Interval / 4
	if tick < 50*time.Millisecond {
		tick = 50 * time.Millisecond
	}
	if tick > time.Second {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.check(context.Background(), true)
			return nil
		case <-t.C:
			r.check(ctx, false)
		}
	}
}

// check marks down the nodes whose grace has run out and, every persistEvery
// (or when flush is set), writes last-seen times.
func (r *Registry) check(ctx context.Context, flush bool) {
	now := time.Now()
	var down []string
	touch := map[string]time.Time{}
	r.mu.Lock()
	for id, l := range r.live {
		if l.returning && now.Sub(l.lastSeen) > r.cfg.Grace {
			l.returning = false // silent again: its next contact starts over
		}
		if l.state != api.NodeDown && now.Sub(l.lastSeen) > r.cfg.Grace && now.After(l.notBefore) {
			l.state = api.NodeDown
			down = append(down, id)
			continue
		}
		if l.state != api.NodeDown && l.lastSeen.After(l.saved) && (flush || now.Sub(l.saved) >= persistEvery) {
			touch[id] = l.lastSeen
			l.saved = l.lastSeen
		}
	}
	seen := map[string]time.Time{}
	for _, id := range down {
		seen[id] = r.live[id].lastSeen
	}
	r.mu.Unlock()
	for _, id := range down {
		r.log.Warn("node is down: no heartbeat within the grace", "node", id, "last_seen", seen[id], "grace", r.cfg.Grace)
		if err := r.wrote(r.cfg.Store.SetNodeState(ctx, id, api.NodeDown, seen[id])); err != nil && !errors.Is(err, api.ErrNotFound) {
			r.log.Error("record node state", "node", id, "err", err)
		}
		r.cfg.Store.Audit(ctx, "system", "node.down", id, "no heartbeat since "+seen[id].Format(time.RFC3339))
	}
	if len(touch) > 0 {
		// Last-seen times only: the rows are read again, but no node
		// changed for the scheduler (no OnChange).
		err := r.cfg.Store.TouchNodes(ctx, touch)
		r.rows.drop()
		if err != nil {
			r.log.Error("record last-seen times", "err", err)
		}
	}
}

// Nodes lists every node with its live state.
func (r *Registry) Nodes(ctx context.Context) ([]api.Node, error) {
	ns, err := r.rows.get(ctx, r.cfg.Store.Nodes)
	if err != nil {
		return nil, err
	}
	out := make([]api.Node, 0, len(ns))
	for _, n := range ns { // by hostname, as the store lists them
		out = append(out, r.view(n))
	}
	return out, nil
}

// Node returns one node by id, or by hostname when exactly one node has it.
func (r *Registry) Node(ctx context.Context, idOrHostname string) (api.Node, error) {
	n, err := r.cfg.Store.Node(ctx, idOrHostname)
	if err == nil {
		return r.view(n), nil
	}
	if !errors.Is(err, api.ErrNotFound) {
		return api.Node{}, err
	}
	all, err := r.Nodes(ctx)
	if err != nil {
		return api.Node{}, err
	}
	var found []api.Node
	for _, n := range all {
		if n.Hostname == idOrHostname {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return api.Node{}, api.Errorf(api.CodeNotFound, "node %s not found", idOrHostname)
	case 1:
		return found[0], nil
	}
	return api.Node{}, api.Errorf(api.CodeConflict, "%d nodes have hostname %s: use the node id", len(found), idOrHostname)
}

func (r *Registry) view(n store.Node) api.Node {
	v := api.Node{
		ID: n.ID, Hostname: n.Hostname, Advertise: n.Advertise, Roles: n.Roles, State: n.State,
		Facts: n.Facts, JoinedAt: n.JoinedAt, LastSeen: n.LastSeen, Cordoned: n.Cordoned,
	}
	if v.Roles == nil {
		v.Roles = []string{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.live[n.ID]; l != nil {
		v.State, v.Connected, v.Usage = l.state, l.connected, l.usage
		seen := l.lastSeen.UTC()
		if n.LastSeen == nil || seen.After(*n.LastSeen) {
			v.LastSeen = &seen
		}
	}
	return v
}

// wrote is called with the outcome of every write of a node row: the next
// Nodes reads the store again.
func (r *Registry) wrote(err error) error {
	r.rows.drop()
	if r.cfg.OnChange != nil {
		r.cfg.OnChange()
	}
	return err
}
