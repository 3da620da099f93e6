package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"gasper/api"
	"gasper/master/auth"
)

// APITokenPrefix starts every API token, so it is told apart from a JWT and
// found by secret scanners.
const APITokenPrefix = "gsp_"

// authenticate finds the caller of r. It re-reads the user on every request:
// a deleted user, a revoked session or token, or revoked admin rights take
// effect at once, whatever a token says.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return nil, errorf(api.CodeUnauthorized, "missing bearer token: log in with `gasper login`")
	}
	if strings.HasPrefix(token, APITokenPrefix) {
		return s.authenticateAPIToken(r, token)
	}
	claims, err := s.cfg.Signer.Verify(token)
	if err != nil {
		return nil, errorf(api.CodeUnauthorized, "access token is invalid or expired: log in again, or refresh it")
	}
	ctx := r.Context()
	sess, err := s.cfg.Store.Session(ctx, claims.SessionID)
	if errors.Is(err, api.ErrNotFound) || (err == nil && (sess.RevokedAt != nil || sess.UserID != claims.Subject)) {
		return nil, errorf(api.CodeUnauthorized, "this session was logged out: log in again")
	}
	if err != nil {
		return nil, err
	}
	u, err := s.cfg.Store.User(ctx, claims.Subject)
	if errors.Is(err, api.ErrNotFound) {
		return nil, errorf(api.CodeUnauthorized, "the user of this session no longer exists")
	}
	if err != nil {
		return nil, err
	}
	return &caller{User: u, SessionID: sess.ID}, nil
}

func (s *Server) authenticateAPIToken(r *http.Request, token string) (*caller, error) {
	invalid := errorf(api.CodeUnauthorized, "API token is invalid, expired or revoked")
	id, secret, ok := strings.Cut(strings.TrimPrefix(token, APITokenPrefix), "_")
	if !ok || len(id) > 64 {
		return nil, invalid
	}
	ctx := r.Context()
	t, err := s.cfg.Store.APIToken(ctx, id)
	if errors.Is(err, api.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if !auth.SecretMatches(secret, t.SecretHash) || (t.ExpiresAt != nil && now.After(*t.ExpiresAt)) {
		return nil, invalid
	}
	u, err := s.cfg.Store.User(ctx, t.UserID)
	if errors.Is(err, api.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	s.touchToken(r, t.ID, now)
	return &caller{User: u, TokenID: t.ID}, nil
}

// touchToken records a token's last use at most once a minute.
func (s *Server) touchToken(r *http.Request, id string, now time.Time) {
	s.touchMu.Lock()
	last := s.touched[id]
	due := now.Sub(last) >= time.Minute
	if due {
		s.touched[id] = now
	}
	s.touchMu.Unlock()
	if due {
		if err := s.cfg.Store.TouchAPIToken(r.Context(), id, now); err != nil {
			s.log.Warn("record API token use", "token", id, "err", err)
		}
	}
}
