package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"gasper/api"
)

// Health returns the master's health; it needs no authentication.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var h api.Health
	if err := c.do(ctx, http.MethodGet, "/health", nil, &h, false); err != nil {
		return nil, err
	}
	return &h, nil
}

// Login trades an email and password for a session, which the client then
// uses (and refreshes) for its later calls.
func (c *Client) Login(ctx context.Context, email, password string) (*api.Session, error) {
	var s api.Session
	req := api.LoginRequest{Email: email, Password: password}
	if err := c.do(ctx, http.MethodPost, "/auth/login", req, &s, false); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.session, c.token, c.refreshDead = &s, s.AccessToken, false
	c.mu.Unlock()
	cp := s
	return &cp, nil
}

// Refresh spends refreshToken for a new session. Refresh tokens rotate: the
// one passed is no longer valid afterwards. Most callers let the client
// refresh by itself (WithSession) instead.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*api.Session, error) {
	var s api.Session
	req := api.RefreshRequest{RefreshToken: refreshToken}
	if err := c.do(ctx, http.MethodPost, "/auth/refresh", req, &s, false); err != nil {
		return nil, err
	}
	return &s, nil
}

// Logout revokes the session of the access token the client uses, with its
// refresh token, and forgets it.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.do(ctx, http.MethodPost, "/auth/logout", nil, nil, true); err != nil {
		return err
	}
	c.mu.Lock()
	c.session, c.token = nil, ""
	c.mu.Unlock()
	return nil
}

// WhoAmI returns the user the client is authenticated as.
func (c *Client) WhoAmI(ctx context.Context) (*api.User, error) {
	var u api.User
	if err := c.do(ctx, http.MethodGet, "/whoami", nil, &u, true); err != nil {
		return nil, err
	}
	return &u, nil
}

// Users lists every user (admin).
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	var us []api.User
	if err := c.do(ctx, http.MethodGet, "/users", nil, &us, true); err != nil {
		return nil, err
	}
	return us, nil
}

// CreateUser creates a user (admin).
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (*api.User, error) {
	var u api.User
	if err := c.do(ctx, http.MethodPost, "/users", req, &u, true); err != nil {
		return nil, err
	}
	return &u, nil
}

// User returns one user by id or email (admin, or the user themself).
func (c *Client) User(ctx context.Context, user string) (*api.User, error) {
	var u api.User
	if err := c.do(ctx, http.MethodGet, "/users/"+url.PathEscape(user), nil, &u, true); err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUser deletes a user by id or email (admin; not oneself).
func (c *Client) DeleteUser(ctx context.Context, user string) error {
	return c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(user), nil, nil, true)
}

// GrantAdmin makes a user an admin (admin).
func (c *Client) GrantAdmin(ctx context.Context, user string) (*api.User, error) {
	var u api.User
	if err := c.do(ctx, http.MethodPut, "/users/"+url.PathEscape(user)+"/admin", nil, &u, true); err != nil {
		return nil, err
	}
	return &u, nil
}

// RevokeAdmin takes admin rights from a user (admin; never the last admin).
func (c *Client) RevokeAdmin(ctx context.Context, user string) (*api.User, error) {
	var u api.User
	if err := c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(user)+"/admin", nil, &u, true); err != nil {
		return nil, err
	}
	return &u, nil
}

// APITokens lists the caller's own API tokens, without their secrets.
func (c *Client) APITokens(ctx context.Context) ([]api.APIToken, error) {
	var ts []api.APIToken
	if err := c.do(ctx, http.MethodGet, "/tokens", nil, &ts, true); err != nil {
		return nil, err
	}
	return ts, nil
}

// CreateAPIToken creates an API token for the caller; the answer holds its
// secret, which the master never shows again.
func (c *Client) CreateAPIToken(ctx context.Context, req api.CreateAPITokenRequest) (*api.CreatedAPIToken, error) {
	var t api.CreatedAPIToken
	if err := c.do(ctx, http.MethodPost, "/tokens", req, &t, true); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeAPIToken revokes an API token by id (one's own; admins any).
func (c *Client) RevokeAPIToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(id), nil, nil, true)
}

// Nodes lists the nodes (admin).
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var ns []api.Node
	if err := c.do(ctx, http.MethodGet, "/nodes", nil, &ns, true); err != nil {
		return nil, err
	}
	return ns, nil
}

// Node returns one node by id, or by hostname if unique (admin).
func (c *Client) Node(ctx context.Context, node string) (*api.Node, error) {
	var n api.Node
	if err := c.do(ctx, http.MethodGet, "/nodes/"+url.PathEscape(node), nil, &n, true); err != nil {
		return nil, err
	}
	return &n, nil
}

// RemoveNode makes the master forget a node and close its tunnel (admin).
func (c *Client) RemoveNode(ctx context.Context, node string) error {
	return c.do(ctx, http.MethodDelete, "/nodes/"+url.PathEscape(node), nil, nil, true)
}

// CordonNode stops new placements on a node, or with cordon false allows them again (admin).
func (c *Client) CordonNode(ctx context.Context, node string, cordon bool) (*api.Node, error) {
	verb := "/cordon"
	if !cordon {
		verb = "/uncordon"
	}
	var n api.Node
	if err := c.do(ctx, http.MethodPost, "/nodes/"+url.PathEscape(node)+verb, nil, &n, true); err != nil {
		return nil, err
	}
	return &n, nil
}

// DrainNode cordons a node and starts moving its apps to other nodes (admin).
func (c *Client) DrainNode(ctx context.Context, node string) (*api.DrainResult, error) {
	var d api.DrainResult
	if err := c.do(ctx, http.MethodPost, "/nodes/"+url.PathEscape(node)+"/drain", nil, &d, true); err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateJoinToken creates a token a new node joins with (admin).
func (c *Client) CreateJoinToken(ctx context.Context, req api.CreateJoinTokenRequest) (*api.JoinToken, error) {
	var t api.JoinToken
	if err := c.do(ctx, http.MethodPost, "/nodes/tokens", req, &t, true); err != nil {
		return nil, err
	}
	return &t, nil
}

// Audit returns up to limit audit events, newest first (admin). A limit of 0
// or less leaves the number to the master.
func (c *Client) Audit(ctx context.Context, limit int) ([]api.AuditEvent, error) {
	path := "/audit"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var es []api.AuditEvent
	if err := c.do(ctx, http.MethodGet, path, nil, &es, true); err != nil {
		return nil, err
	}
	return es, nil
}

// Certificates lists the certificates uploaded for custom domains (admin).
func (c *Client) Certificates(ctx context.Context) ([]api.Certificate, error) {
	var out []api.Certificate
	if err := c.do(ctx, http.MethodGet, "/certificates", nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// AddCertificate uploads a certificate chain and key (admin).
func (c *Client) AddCertificate(ctx context.Context, req api.CertificateRequest) (*api.Certificate, error) {
	var out api.Certificate
	if err := c.do(ctx, http.MethodPost, "/certificates", req, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveCertificate removes an uploaded certificate (admin).
func (c *Client) RemoveCertificate(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/certificates/"+url.PathEscape(name), nil, nil, true)
}
