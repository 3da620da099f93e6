package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"gasper/api"
)

// appPath is the route of app name, with anything after it.
func appPath(name string, rest ...string) string {
	p := "/apps/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Apps lists the caller's apps (admins: every app).
func (c *Client) Apps(ctx context.Context) ([]api.App, error) {
	var as []api.App
	if err := c.do(ctx, http.MethodGet, "/apps", nil, &as, true); err != nil {
		return nil, err
	}
	return as, nil
}

// CreateApp creates an app. A git app starts building at once; a directory
// app waits for UploadSource.
func (c *Client) CreateApp(ctx context.Context, req api.CreateAppRequest) (*api.App, error) {
	var a api.App
	if err := c.do(ctx, http.MethodPost, "/apps", req, &a, true); err != nil {
		return nil, err
	}
	return &a, nil
}

// App returns one app by name. Another user's app is not found.
func (c *Client) App(ctx context.Context, name string) (*api.App, error) {
	var a api.App
	if err := c.do(ctx, http.MethodGet, appPath(name), nil, &a, true); err != nil {
		return nil, err
	}
	return &a, nil
}

// UpdateApp changes an app's config and returns the release that rolls it
// out.
func (c *Client) UpdateApp(ctx context.Context, name string, req api.UpdateAppRequest) (*api.Release, error) {
	var r api.Release
	if err := c.do(ctx, http.MethodPatch, appPath(name), req, &r, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteApp deletes an app with its containers, images, releases and
// sources.
func (c *Client) DeleteApp(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, appPath(name), nil, nil, true)
}

// UploadSource sends a gzip'd tar of the app's source, read from archive as
// it is sent (never held in memory), and returns the release now building.
// When archive is an io.Seeker (an *os.File, say) its length is sent ahead,
// and an expired session is refreshed and the upload retried once; a plain
// stream cannot be retried. The master refuses archives over 200 MiB
// (api.ErrTooLarge).
func (c *Client) UploadSource(ctx context.Context, app string, archive io.Reader) (*api.Release, error) {
	path := appPath(app, "source")
	resp, err := c.doStream(ctx, http.MethodPost, path, archive, "application/gzip", "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r api.Release
	if err := decodeJSON(resp, &r); err != nil {
		return nil, fmt.Errorf("decode answer of POST %s: %w", path, err)
	}
	return &r, nil
}

// Rebuild builds the app's current source again (a git app fetches its
// branch first) and returns the new release.
func (c *Client) Rebuild(ctx context.Context, app string) (*api.Release, error) {
	var r api.Release
	if err := c.do(ctx, http.MethodPost, appPath(app, "rebuild"), nil, &r, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// Releases lists an app's releases, newest first.
func (c *Client) Releases(ctx context.Context, app string) ([]api.Release, error) {
	var rs []api.Release
	if err := c.do(ctx, http.MethodGet, appPath(app, "releases"), nil, &rs, true); err != nil {
		return nil, err
	}
	return rs, nil
}

// Release returns release n of an app.
func (c *Client) Release(ctx context.Context, app string, n int) (*api.Release, error) {
	var r api.Release
	if err := c.do(ctx, http.MethodGet, appPath(app, "releases", strconv.Itoa(n)), nil, &r, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// BuildLog returns the build log of release n as text. With follow, the
// stream stays open until the build ends; its last line is then
// "==> build succeeded in ..." or "==> build failed: ...". Only ctx bounds
// how long it is read; the caller closes it.
func (c *Client) BuildLog(ctx context.Context, app string, n int, follow bool) (io.ReadCloser, error) {
	path := appPath(app, "releases", strconv.Itoa(n), "log")
	if follow {
		path += "?follow=1"
	}
	resp, err := c.doStream(ctx, http.MethodGet, path, nil, "", "text/plain")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Rollback makes a new release that runs release n's image again (n 0: the
// release before the current one) and returns it.
func (c *Client) Rollback(ctx context.Context, app string, n int) (*api.Release, error) {
	var r api.Release
	req := api.RollbackRequest{Release: n}
	if err := c.do(ctx, http.MethodPost, appPath(app, "rollback"), req, &r, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// Scale sets how many replicas of an app run and returns the app.
func (c *Client) Scale(ctx context.Context, app string, replicas int) (*api.App, error) {
	var a api.App
	if err := c.do(ctx, http.MethodPost, appPath(app, "scale"), api.ScaleRequest{Replicas: replicas}, &a, true); err != nil {
		return nil, err
	}
	return &a, nil
}

// Restart restarts every instance of an app.
func (c *Client) Restart(ctx context.Context, app string) error {
	return c.do(ctx, http.MethodPost, appPath(app, "restart"), nil, nil, true)
}

// Logs returns an app's logs (all instances, each line as written) as text,
// starting tail lines back (0: the master's default). With follow, the
// stream stays open for new lines until ctx ends or the master closes it.
// The caller closes it.
func (c *Client) Logs(ctx context.Context, app string, follow bool, tail int) (io.ReadCloser, error) {
	q := url.Values{}
	if follow {
		q.Set("follow", "1")
	}
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	path := appPath(app, "logs")
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.doStream(ctx, http.MethodGet, path, nil, "", "text/plain")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Env returns an app's environment variables with their values (owner
// only).
func (c *Client) Env(ctx context.Context, app string) (map[string]string, error) {
	env := map[string]string{}
	if err := c.do(ctx, http.MethodGet, appPath(app, "env"), nil, &env, true); err != nil {
		return nil, err
	}
	return env, nil
}

// SetEnv sets and unsets environment variables and returns the release that
// rolls them out (no rebuild).
func (c *Client) SetEnv(ctx context.Context, app string, req api.EnvRequest) (*api.Release, error) {
	var r api.Release
	if err := c.do(ctx, http.MethodPatch, appPath(app, "env"), req, &r, true); err != nil {
		return nil, err
	}
	return &r, nil
}

// AddDomain gives an app a custom domain.
func (c *Client) AddDomain(ctx context.Context, app, domain string) (*api.App, error) {
	var a api.App
	if err := c.do(ctx, http.MethodPost, appPath(app, "domains"), api.DomainRequest{Domain: domain}, &a, true); err != nil {
		return nil, err
	}
	return &a, nil
}

// RemoveDomain takes a custom domain from an app.
func (c *Client) RemoveDomain(ctx context.Context, app, domain string) error {
	return c.do(ctx, http.MethodDelete, appPath(app, "domains", url.PathEscape(domain)), nil, nil, true)
}

// CloudCA returns the PEM certificate of the CA that signs apps' HTTPS
// certificates.
func (c *Client) CloudCA(ctx context.Context) ([]byte, error) {
	resp, err := c.doStream(ctx, http.MethodGet, "/ca", nil, "", "application/x-pem-file")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
