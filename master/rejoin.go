package master

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"gasper/api"
	"gasper/master/apps"
	"gasper/master/nodes"
	"gasper/master/routing"
	"gasper/proto"
)

// rejoinTimeout bounds how long a returning node is held down while it is
// told what moved away; past it, the node is made ready anyway (and the
// warning says what it still ran).
const rejoinTimeout = 30 * time.Second

// rejoin runs when a down node is heard from again: it tells the node which
// apps now run elsewhere and waits until it has stopped them, then makes it
// ready. The node's instances enter the routes only then.
func rejoin(ctx context.Context, reg *nodes.Registry, appsvc *apps.Service, router *routing.Router, log *slog.Logger, nodeID string) {
	start := time.Now()
	for reg.Returning(nodeID) && ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := appsvc.Rejoin(actx, nodeID)
		cancel()
		if err != nil && time.Since(start) < rejoinTimeout {
			log.Warn("returning node not ready yet", "node", nodeID, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if err != nil {
			log.Warn("returning node made ready although it was not told everything", "node", nodeID, "err", err, "waited", rejoinTimeout)
		}
		if reg.Ready(nodeID) {
			log.Info("returning node is ready", "node", nodeID, "took", time.Since(start).Round(time.Millisecond))
			router.Kick()
			appsvc.NodeReady(ctx, nodeID)
		}
		return
	}
}

// warmingUp returns the router's Hold: a master that has just started knows
// no instance until the app nodes report, and no proxy until they connect, so
// route tables and zones made now would empty the proxies' and DNS servers'
// good ones. It holds until every ready node is connected and every ready app
// node has reported, or the grace plus the agents' reconnect slack has passed
// (nodes not back by then are down).
func warmingUp(ctx context.Context, reg *nodes.Registry, appsvc *apps.Service, grace time.Duration) func() bool {
	deadline := time.Now().Add(grace + nodes.ReconnectSlack)
	var warm atomic.Bool
	return func() bool {
		if warm.Load() {
			return false
		}
		if time.Now().Before(deadline) {
			ns, err := reg.Nodes(ctx)
			if err != nil {
				return true
			}
			for _, n := range ns {
				if n.State != api.NodeReady {
					continue
				}
				if !n.Connected || (slices.Contains(n.Roles, proto.RoleApp) && !appsvc.Reported(n.ID)) {
					return true
				}
			}
		}
		warm.Store(true)
		return false
	}
}
