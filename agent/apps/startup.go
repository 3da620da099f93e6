package apps

import (
	"context"
	"sync"
	"time"
)

// startup holds back an agent that starts with a saved desired set until the
// master has said what it wants now. The saved set may be stale: while the
// node was away (its machine died, or it was cut off), the master may have
// moved its apps elsewhere, and starting them here would run them twice. When
// the master cannot be reached, the saved set is used after a short wait: a
// master outage must not stop apps.
type startup struct {
	saved bool          // the desired set came from the state file
	heard chan struct{} // closed when the master first sends the desired set
	once  sync.Once
}

func newStartup(saved bool) startup { return startup{saved: saved, heard: make(chan struct{})} }

// masterSpoke records that the master sent the desired set.
func (m *Manager) masterSpoke() { m.once.Do(func() { close(m.heard) }) }

// awaitMaster waits, if the desired set is a saved one, for the master's
// current set or SavedWait, whichever comes first.
func (m *Manager) awaitMaster(ctx context.Context) {
	if !m.saved {
		return
	}
	wait := m.cfg.SavedWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	start := time.Now()
	select {
	case <-m.heard:
		m.log.Info("the master sent the current desired apps; starting from them", "waited", time.Since(start).Round(time.Millisecond))
	case <-time.After(wait):
		m.log.Warn("no word from the master; starting the saved desired apps", "waited", wait)
	case <-ctx.Done():
	}
}
