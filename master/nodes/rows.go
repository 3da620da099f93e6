package nodes

import (
	"context"
	"sync"

	"gasper/master/store"
)

// rows keeps the store's node rows between writes. The scheduler and every
// desired-set push read all nodes for each decision, and node rows change
// only through this registry, which drops the copy after each write.
type rows struct {
	mu   sync.Mutex
	gen  uint64 // counts drops, so a read that raced a write is not kept
	list []store.Node
	ok   bool
}

func (c *rows) get(ctx context.Context, load func(context.Context) ([]store.Node, error)) ([]store.Node, error) {
	c.mu.Lock()
	if c.ok {
		defer c.mu.Unlock()
		return c.list, nil
	}
	gen := c.gen
	c.mu.Unlock()
	list, err := load(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.list, c.ok = list, true
	}
	c.mu.Unlock()
	return list, nil
}

// drop forgets the copy; call it after every write of a node row.
func (c *rows) drop() {
	c.mu.Lock()
	c.gen++
	c.ok, c.list = false, nil
	c.mu.Unlock()
}
