package store

import (
	"context"
	"database/sql"
	"time"
)

// Session is a login session.
type Session struct {
	ID               string
	UserID           string
	RefreshHash      string
	CreatedAt        time.Time
	RefreshExpiresAt time.Time
	RevokedAt        *time.Time
}

// CreateSession records a new login session.
func (s *Store) CreateSession(ctx context.Context, id, userID, refreshHash string, refreshExpires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions(id, user_id, refresh_hash, created_at, refresh_expires_at)
		VALUES (?, ?, ?, ?, ?)`, id, userID, refreshHash, now(), ms(refreshExpires))
	return err
}

// Session returns a session by id.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	var ss Session
	var created, expires int64
	var revoked sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, refresh_hash, created_at, refresh_expires_at, revoked_at
		FROM sessions WHERE id = ?`, id).Scan(&ss.ID, &ss.UserID, &ss.RefreshHash, &created, &expires, &revoked)
	if err != nil {
		return Session{}, notFound(err, "session")
	}
	ss.CreatedAt, ss.RefreshExpiresAt, ss.RevokedAt = fromMS(created), fromMS(expires), fromNullMS(revoked)
	return ss, nil
}

// RotateRefresh replaces a live session's refresh token hash, but only if
// it still holds oldHash: of two concurrent refreshes with one token, one wins.
func (s *Store) RotateRefresh(ctx context.Context, id, oldHash, newHash string, expires time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET refresh_hash = ?, refresh_expires_at = ?
		WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL`, newHash, ms(expires), id, oldHash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RevokeSession ends a session: its access and refresh tokens stop working.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now(), id)
	return err
}

// PruneSessions deletes sessions that expired or were revoked before cutoff.
func (s *Store) PruneSessions(ctx context.Context, cutoff time.Time) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE refresh_expires_at < ? OR revoked_at < ?`, ms(cutoff), ms(cutoff))
	return err
}
