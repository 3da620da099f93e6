package httpapi

import (
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gasper/api"
	"gasper/master/auth"
	"gasper/master/store"
	"gasper/proto"
)

func (s *Server) health(*http.Request, *caller) (any, error) {
	return api.Health{Status: "ok", Version: s.cfg.Version, ProtoVersion: proto.Version}, nil
}

func (s *Server) openAPI(*http.Request, *caller) (any, error) { return s.Document(), nil }

// --- sessions ---

func (s *Server) login(r *http.Request, _ *caller) (any, error) {
	var req api.LoginRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	wrong := errorf(api.CodeUnauthorized, "wrong email or password")
	if req.Email == "" || req.Password == "" {
		return nil, errorf(api.CodeBadRequest, "email and password are required")
	}
	u, err := s.cfg.Store.User(r.Context(), req.Email)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return nil, err
	}
	// Unknown emails cost a bcrypt comparison too, and get the same answer.
	if !auth.CheckPassword(u.PasswordHash, req.Password) {
		return nil, wrong
	}
	sessionID := store.NewID("s-")
	secret := auth.Secret(32)
	expires := time.Now().Add(s.cfg.RefreshTTL)
	if err := s.cfg.Store.CreateSession(r.Context(), sessionID, u.ID, auth.HashSecret(secret), expires); err != nil {
		return nil, err
	}
	s.audit(r.Context(), &caller{User: u}, "auth.login", u.Email, "session "+sessionID)
	return s.session(u, sessionID, secret, expires)
}

func (s *Server) session(u store.User, sessionID, secret string, refreshExpires time.Time) (api.Session, error) {
	tok, exp, err := s.cfg.Signer.Sign(u.ID, sessionID, s.cfg.AccessTTL)
	if err != nil {
		return api.Session{}, err
	}
	return api.Session{
		AccessToken: tok, AccessExpiresAt: exp.UTC(),
		RefreshToken: sessionID + "." + secret, RefreshExpiresAt: refreshExpires.UTC(),
		User: u.User,
	}, nil
}

func (s *Server) refresh(r *http.Request, _ *caller) (any, error) {
	var req api.RefreshRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	invalid := errorf(api.CodeUnauthorized, "refresh token is invalid, spent or expired: log in again")
	sessionID, secret, ok := strings.Cut(req.RefreshToken, ".")
	if !ok || len(sessionID) > 64 {
		return nil, invalid
	}
	ctx := r.Context()
	sess, err := s.cfg.Store.Session(ctx, sessionID)
	if errors.Is(err, api.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if sess.RevokedAt != nil || time.Now().After(sess.RefreshExpiresAt) {
		return nil, invalid
	}
	if !auth.SecretMatches(secret, sess.RefreshHash) {
		// A spent refresh token came back: someone holds a copy. End the
		// session so neither copy works.
		s.cfg.Store.RevokeSession(ctx, sessionID)
		s.log.Warn("spent refresh token reused: session revoked", "session", sessionID)
		return nil, invalid
	}
	u, err := s.cfg.Store.User(ctx, sess.UserID)
	if errors.Is(err, api.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	newSecret := auth.Secret(32)
	expires := time.Now().Add(s.cfg.RefreshTTL)
	won, err := s.cfg.Store.RotateRefresh(ctx, sessionID, sess.RefreshHash, auth.HashSecret(newSecret), expires)
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, invalid
	}
	return s.session(u, sessionID, newSecret, expires)
}

func (s *Server) logout(r *http.Request, c *caller) (any, error) {
	if c.SessionID == "" {
		return nil, errorf(api.CodeBadRequest, "logout ends a login session, and this request used an API token: revoke it with `gasper token revoke %s`", c.TokenID)
	}
	if err := s.cfg.Store.RevokeSession(r.Context(), c.SessionID); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "auth.logout", c.User.Email, "session "+c.SessionID)
	return nil, nil
}

func (s *Server) whoami(_ *http.Request, c *caller) (any, error) { return c.User.User, nil }

// --- users ---

func (s *Server) listUsers(r *http.Request, _ *caller) (any, error) {
	us, err := s.cfg.Store.Users(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]api.User, 0, len(us))
	for _, u := range us {
		out = append(out, u.User)
	}
	return out, nil
}

// ValidEmail checks an email address for a new account.
func ValidEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		return errorf(api.CodeBadRequest, "%q is not a valid email address (like alice@example.com)", email)
	}
	return nil
}

func (s *Server) createUser(r *http.Request, c *caller) (any, error) {
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := ValidEmail(req.Email); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return nil, errorf(api.CodeBadRequest, "%s", err)
	}
	u, err := s.cfg.Store.CreateUser(r.Context(), req.Email, hash, req.Admin)
	if err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "user.create", u.Email, "admin="+strconv.FormatBool(u.Admin))
	return u.User, nil
}

func (s *Server) getUser(r *http.Request, c *caller) (any, error) {
	u, err := s.cfg.Store.User(r.Context(), r.PathValue("user"))
	if err != nil || (!c.User.Admin && u.ID != c.User.ID) {
		// Non-admins learn nothing about other accounts, not even whether they exist.
		if !c.User.Admin {
			return nil, errorf(api.CodeForbidden, "you can only see your own account")
		}
		return nil, err
	}
	return u.User, nil
}

func (s *Server) deleteUser(r *http.Request, c *caller) (any, error) {
	u, err := s.cfg.Store.User(r.Context(), r.PathValue("user"))
	if err != nil {
		return nil, err
	}
	if u.ID == c.User.ID {
		return nil, errorf(api.CodeBadRequest, "you cannot delete your own account: ask another admin")
	}
	if err := s.cfg.Store.DeleteUser(r.Context(), u.ID); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "user.delete", u.Email, "")
	return nil, nil
}

func (s *Server) setAdmin(grant bool) func(*http.Request, *caller) (any, error) {
	return func(r *http.Request, c *caller) (any, error) {
		u, err := s.cfg.Store.User(r.Context(), r.PathValue("user"))
		if err != nil {
			return nil, err
		}
		if err := s.cfg.Store.SetAdmin(r.Context(), u.ID, grant); err != nil {
			return nil, err
		}
		action := "user.revoke_admin"
		if grant {
			action = "user.grant_admin"
		}
		s.audit(r.Context(), c, action, u.Email, "")
		u.Admin = grant
		return u.User, nil
	}
}

// --- API tokens ---

func (s *Server) listTokens(r *http.Request, c *caller) (any, error) {
	ts, err := s.cfg.Store.APITokens(r.Context(), c.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]api.APIToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.APIToken)
	}
	return out, nil
}

// maxTokenTTL bounds API token lifetimes: ten years, as good as forever.
const maxTokenTTL = 10 * 365 * 24 * time.Hour

func (s *Server) createToken(r *http.Request, c *caller) (any, error) {
	var req api.CreateAPITokenRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := validName("token name", req.Name, 64); err != nil {
		return nil, err
	}
	t := store.APIToken{UserID: c.User.ID}
	t.ID, t.Name, t.CreatedAt = store.NewID("t-"), req.Name, time.Now().UTC()
	if req.TTL != "" {
		ttl, err := parseTTL(req.TTL, 0, maxTokenTTL)
		if err != nil {
			return nil, err
		}
		exp := t.CreatedAt.Add(ttl)
		t.ExpiresAt = &exp
	}
	secret := auth.Secret(32)
	t.SecretHash = auth.HashSecret(secret)
	if err := s.cfg.Store.CreateAPIToken(r.Context(), t); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "token.create", t.ID, t.Name)
	return api.CreatedAPIToken{APIToken: t.APIToken, Token: APITokenPrefix + t.ID + "_" + secret}, nil
}

func (s *Server) revokeToken(r *http.Request, c *caller) (any, error) {
	t, err := s.cfg.Store.APIToken(r.Context(), r.PathValue("id"))
	if err == nil && t.UserID != c.User.ID && !c.User.Admin {
		err = errorf(api.CodeNotFound, "API token %s not found", r.PathValue("id"))
	}
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.DeleteAPIToken(r.Context(), t.ID); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "token.revoke", t.ID, t.Name)
	return nil, nil
}

// validName checks a free-form name: printable, no control characters.
func validName(what, v string, max int) error {
	if v == "" || len(v) > max {
		return errorf(api.CodeBadRequest, "%s must be 1 to %d characters", what, max)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return errorf(api.CodeBadRequest, "%s must be printable text", what)
		}
	}
	return nil
}

// --- nodes ---

func (s *Server) listNodes(r *http.Request, _ *caller) (any, error) {
	return s.cfg.Nodes.Nodes(r.Context())
}

func (s *Server) getNode(r *http.Request, _ *caller) (any, error) {
	return s.cfg.Nodes.Node(r.Context(), r.PathValue("node"))
}

func (s *Server) removeNode(r *http.Request, c *caller) (any, error) {
	n, err := s.cfg.Nodes.Node(r.Context(), r.PathValue("node"))
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Nodes.Remove(r.Context(), n.ID); err != nil {
		return nil, err
	}
	if s.cfg.Tunnel != nil {
		s.cfg.Tunnel.Disconnect(n.ID)
	}
	s.audit(r.Context(), c, "node.remove", n.ID, n.Hostname)
	return nil, nil
}

// maxJoinTTL bounds join token lifetimes: a join token is a key to the cluster.
const maxJoinTTL = 30 * 24 * time.Hour

func (s *Server) createJoinToken(r *http.Request, c *caller) (any, error) {
	var req api.CreateJoinTokenRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	ttl, err := parseTTL(req.TTL, s.cfg.JoinTokenTTL, maxJoinTTL)
	if err != nil {
		return nil, err
	}
	tok, exp, err := s.cfg.Nodes.IssueJoinToken(r.Context(), c.User.ID, ttl)
	if err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "node.token", tok.ID, "ttl="+ttl.String())
	return api.JoinToken{ID: tok.ID, Token: tok.String(), ExpiresAt: exp.UTC(), TunnelAddr: s.cfg.TunnelAddr}, nil
}

// --- audit ---

func (s *Server) listAudit(r *http.Request, _ *caller) (any, error) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, errorf(api.CodeBadRequest, "limit must be a whole number from 1 to 1000")
		}
		limit = n
	}
	evs, err := s.cfg.Store.AuditEvents(r.Context(), limit)
	if evs == nil {
		evs = []api.AuditEvent{}
	}
	return evs, err
}
