package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gasper/api"
)

// appWait is what waitApp waits for: check says whether the app is there
// yet and, if not, the progress line to show.
type appWait struct {
	name    string
	timeout time.Duration
	past    string // "scaled", for "APP is not scaled after 2m"
	noun    string // "the scaling", for "the scaling goes on on the master"
	hint    string // added to the timeout's hint
	check   func(a *api.App) (done bool, step string)
}

// waitApp polls an app until w.check is satisfied, showing its progress,
// and fails early when an instance of the current release keeps failing.
func (g *globalOptions) waitApp(ctx context.Context, w appWait) (*api.App, error) {
	c, err := g.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	p := newProgress(g.io.ErrOut, g.io.IsStderrTTY(), g.now)
	defer p.close()
	every := g.pollInterval
	if every <= 0 {
		every = time.Second
	}
	var last *api.App
	for {
		a, err := c.App(ctx, w.name)
		switch {
		case err == nil:
			last = a
			done, step := w.check(a)
			if done {
				return a, nil
			}
			if bad := failingInstances(a, a.Release); len(bad) > 0 {
				p.close()
				r := &rollout{g: g, app: a.Name, release: a.Release}
				return nil, r.appFailed(a, bad)
			}
			p.setStep(step)
		case ctx.Err() == nil:
			return nil, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				status := "unknown"
				if last != nil {
					status = describeStatus(last)
				}
				return nil, withHint(fmt.Errorf("%s is not %s after %s: it is %s", w.name, w.past, w.timeout, status),
					"see how it stands with: gasper app info "+w.name+w.hint)
			}
			return nil, withHint(fmt.Errorf("stopped waiting for %s; %s goes on on the master", w.name, w.noun),
				"see how it stands with: gasper app info "+w.name)
		case <-time.After(every):
		}
	}
}
