package apps

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gasper/api"
	"gasper/proto"
)

// Rejoin tells a node that was down and is back what it runs now, and waits
// until it runs nothing else: its desired set is pushed, then its reports are
// watched until none shows an instance of an app that now lives elsewhere.
// The node is made ready only after this, so an app never serves from two
// nodes because one of them was cut off. Nodes without the app role return
// at once.
func (s *Service) Rejoin(ctx context.Context, nodeID string) error {
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ns, func(n api.Node) bool { return n.ID == nodeID })
	if i < 0 || !slices.Contains(ns[i].Roles, proto.RoleApp) {
		return nil
	}
	if err := s.pusher.Push(ctx, nodeID); err != nil {
		return fmt.Errorf("push desired apps: %w", err)
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		stray, known, err := s.strays(ctx, nodeID)
		if err != nil {
			return err
		}
		if known && len(stray) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if !known {
				return fmt.Errorf("node %s sent no status report", nodeID)
			}
			return fmt.Errorf("node %s still runs %v, which live elsewhere now", nodeID, stray)
		case <-t.C:
		}
	}
}

// strays lists the apps the node's last report shows running that its
// desired set does not have; known is false before it has reported.
func (s *Service) strays(ctx context.Context, nodeID string) (stray []string, known bool, err error) {
	specs, err := s.Desired(ctx, nodeID)
	if err != nil {
		return nil, false, err
	}
	want := map[string]bool{}
	for _, sp := range specs {
		want[sp.App] = true
	}
	s.mu.Lock()
	rep, known := s.reports[nodeID]
	s.mu.Unlock()
	for _, in := range rep.Instances {
		if !want[in.App] && !slices.Contains(stray, in.App) {
			stray = append(stray, in.App)
		}
	}
	return stray, known, nil
}

// Reported reports whether a node has sent a status report since the master
// started.
func (s *Service) Reported(nodeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.reports[nodeID]
	return ok
}
