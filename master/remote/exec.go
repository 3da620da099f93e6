package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"gasper/api"
	"gasper/master/store"
	"gasper/proto"
)

// openExec opens an exec stream into container id of app on a node.
func (s *Service) openExec(ctx context.Context, nodeID, app, id string) (io.ReadWriteCloser, error) {
	hc, ok := s.cfg.Tunnel.Client(nodeID)
	if !ok {
		return nil, api.Errorf(api.CodeUnavailable, "the node running app %s is not connected", app)
	}
	q := url.Values{"app": {app}, "container": {id}}
	// The stream outlives the request that opened it: only opening it is
	// bounded.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	req, err := proto.NewExecRequest(context.WithoutCancel(ctx), "http://agent"+proto.PathExec+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	type result struct {
		stream io.ReadWriteCloser
		resp   *http.Response
		err    error
	}
	done := make(chan result, 1)
	go func() {
		st, resp, err := proto.OpenExec(hc, req)
		done <- result{st, resp, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-octx.Done():
		go func() {
			if r := <-done; r.stream != nil {
				r.stream.Close()
			}
		}()
		return nil, api.Errorf(api.CodeUnavailable, "the node running app %s did not answer within 30s", app)
	}
	if res.err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "reach the node running app %s: %v", app, res.err)
	}
	if res.resp != nil {
		defer res.resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.resp.Body, 4096))
		code := api.CodeUnavailable
		if res.resp.StatusCode == http.StatusNotFound {
			code = api.CodeConflict // the instance stopped since the master last heard
		}
		return nil, api.Errorf(code, "the node refused: %s", bytes.TrimSpace(b))
	}
	return res.stream, nil
}

// Exec serves POST /api/v1/apps/{app}/exec: it checks who may enter the
// app, opens an exec stream to the chosen instance's node, switches the
// caller's connection to an exec stream and relays the two. It returns an
// error only before switching (the API then answers it as JSON).
func (s *Service) Exec(w http.ResponseWriter, r *http.Request, who store.User, name string, instance int) error {
	if !proto.IsExecRequest(r) {
		return api.Errorf(api.CodeBadRequest, "exec needs an upgraded connection (Connection: Upgrade, Upgrade: %s): use gasper app exec or gasper app shell", proto.ExecUpgrade)
	}
	a, err := s.cfg.Apps.Get(r.Context(), who, name)
	if err != nil {
		return err
	}
	in, err := s.pick(a, instance)
	if err != nil {
		return err
	}
	upstream, err := s.openExec(r.Context(), in.Node, a.Name, in.ID)
	if err != nil {
		return err
	}
	down, err := proto.AcceptExec(w)
	if err != nil {
		upstream.Close()
		return nil // nothing can be answered any more
	}
	ctx := context.WithoutCancel(r.Context())
	start := time.Now()
	s.audit(ctx, who.Email, "app.exec", a.Name, fmt.Sprintf("on %s (node %s) through the API", in.ID, in.NodeName))
	splice(down, upstream)
	s.audit(ctx, who.Email, "app.exec.end", a.Name, fmt.Sprintf("on %s after %s", in.ID, time.Since(start).Round(time.Millisecond)))
	return nil
}
