package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"gasper/api"
	"gasper/proto"
)

// SSHKeys lists the caller's SSH public keys.
func (c *Client) SSHKeys(ctx context.Context) ([]api.SSHKey, error) {
	var ks []api.SSHKey
	if err := c.do(ctx, http.MethodGet, "/ssh-keys", nil, &ks, true); err != nil {
		return nil, err
	}
	return ks, nil
}

// AddSSHKey registers a public key for the caller.
func (c *Client) AddSSHKey(ctx context.Context, req api.AddSSHKeyRequest) (*api.SSHKey, error) {
	var k api.SSHKey
	if err := c.do(ctx, http.MethodPost, "/ssh-keys", req, &k, true); err != nil {
		return nil, err
	}
	return &k, nil
}

// RemoveSSHKey removes one of the caller's keys by id.
func (c *Client) RemoveSSHKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/ssh-keys/"+url.PathEscape(id), nil, nil, true)
}

// AppSSH says how to reach an app over SSH.
func (c *Client) AppSSH(ctx context.Context, app string) (*api.AppSSH, error) {
	var v api.AppSSH
	if err := c.do(ctx, http.MethodGet, appPath(app, "ssh"), nil, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// UpdateAppSSH sets or clears an app's SSH password or push branch.
func (c *Client) UpdateAppSSH(ctx context.Context, app string, req api.UpdateAppSSHRequest) (*api.AppSSH, error) {
	var v api.AppSSH
	if err := c.do(ctx, http.MethodPatch, appPath(app, "ssh"), req, &v, true); err != nil {
		return nil, err
	}
	return &v, nil
}

// Exec opens an exec stream (see proto.ExecUpgrade) into one of the app's
// instances: instance N is the Nth that App lists, 0 lets the master
// choose. The caller sends proto.FrameStart first and closes the stream
// when done; ctx bounds only the opening.
func (c *Client) Exec(ctx context.Context, app string, instance int) (io.ReadWriteCloser, error) {
	path := appPath(app, "exec")
	if instance > 0 {
		path += "?instance=" + strconv.Itoa(instance)
	}
	token, err := c.currentToken(ctx)
	if err != nil {
		return nil, err
	}
	stream, err := c.openExec(ctx, path, token)
	if !errors.Is(err, api.ErrUnauthorized) || !c.refreshable(token) {
		return stream, err
	}
	next, rerr := c.refresh(ctx, token)
	if rerr != nil {
		return nil, err
	}
	return c.openExec(ctx, path, next)
}

func (c *Client) openExec(ctx context.Context, path, token string) (io.ReadWriteCloser, error) {
	req, err := proto.NewExecRequest(ctx, c.baseURL+api.Prefix+path)
	if err != nil {
		return nil, fmt.Errorf("build request POST %s: %w", path, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	stream, resp, err := proto.OpenExec(c.http, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("POST %s: %w", path, ctx.Err())
		}
		return nil, &UnreachableError{URL: c.baseURL, Err: unwrapURLError(err)}
	}
	if resp != nil {
		defer resp.Body.Close()
		return nil, decodeError(http.MethodPost, path, resp)
	}
	return stream, nil
}
