// Package nodepush keeps agents in step with what the master wants them to run: it PUTs a node's
// whole desired set to its agent over the tunnel, one push at a time per node; kicks that arrive
// within a short gathering window or during a push coalesce into one more, and a failed push is retried after a pause. A lost push
// costs time, never correctness: the services also kick every node now and then.
package nodepush

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Tunnel gives HTTP clients to connected nodes.
type Tunnel interface {
	Client(nodeID string) (*http.Client, bool)
}

// Config configures a Pusher.
type Config struct {
	// What names the desired set in logs, e.g. "apps".
	What string
	// Path is the agent's route that takes the set (PUT).
	Path string
	// Desired returns the set a node should have; it is encoded as JSON.
	Desired func(ctx context.Context, nodeID string) (any, error)
	// Query, if set, gives the URL query of a push to a node ("" for none),
	// asked with each push as Desired is.
	Query  func(ctx context.Context, nodeID string) string
	Tunnel Tunnel
	// RetryAfter is the pause before a failed push is tried again; default 2s.
	RetryAfter time.Duration
	// Gather is how long a kick waits for more kicks before the push, so a
	// burst of changes to one node (hundreds of placements) costs one push
	// instead of one each; default 20ms.
	Gather time.Duration
	Logger *slog.Logger
}

// Pusher pushes desired sets to nodes. Create it with New.
type Pusher struct {
	cfg   Config
	mu    sync.Mutex
	ctx   context.Context
	loops map[string]chan struct{}
}

// New returns a Pusher that pushes until Start's context ends (or forever, before Start).
func New(cfg Config) *Pusher {
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 2 * time.Second
	}
	if cfg.Gather == 0 {
		cfg.Gather = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pusher{cfg: cfg, ctx: context.Background(), loops: map[string]chan struct{}{}}
}

// Start bounds the pushes by ctx: once it ends, no more pushes are made.
func (p *Pusher) Start(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	p.mu.Unlock()
}

// Kick schedules a push to nodeID ("" is ignored).
func (p *Pusher) Kick(nodeID string) {
	if nodeID == "" {
		return
	}
	p.mu.Lock()
	ch, ok := p.loops[nodeID]
	if !ok {
		ch = make(chan struct{}, 1)
		p.loops[nodeID] = ch
		go p.loop(nodeID, ch)
	}
	p.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *Pusher) loop(nodeID string, ch chan struct{}) {
	for range ch {
		p.mu.Lock()
		ctx := p.ctx
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		time.Sleep(p.cfg.Gather)
		select { // the kicks that came meanwhile are served by this push
		case <-ch:
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.push(pctx, nodeID)
		cancel()
		if err != nil {
			p.cfg.Logger.Warn("push desired "+p.cfg.What+" to node; retrying", "node", nodeID, "err", err)
			time.AfterFunc(p.cfg.RetryAfter, func() { p.Kick(nodeID) })
		}
	}
}

func (p *Pusher) push(ctx context.Context, nodeID string) error {
	hc, ok := p.cfg.Tunnel.Client(nodeID)
	if !ok {
		return nil // pushed again when it connects
	}
	v, err := p.cfg.Desired(ctx, nodeID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	url := "http://agent" + p.cfg.Path
	if p.cfg.Query != nil {
		if q := p.cfg.Query(ctx, nodeID); q != "" {
			url += "?" + q
		}
	}
	req, err := http.NewRequestWithContext(ctx, "PUT", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("agent answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// Push pushes nodeID's desired set now and returns once its agent has taken
// it (or could not). Unlike Kick, a node that is not connected is an error.
func (p *Pusher) Push(ctx context.Context, nodeID string) error {
	if _, ok := p.cfg.Tunnel.Client(nodeID); !ok {
		return fmt.Errorf("node %s is not connected", nodeID)
	}
	return p.push(ctx, nodeID)
}
