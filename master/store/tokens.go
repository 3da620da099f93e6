package store

import (
	"context"
	"database/sql"
	"time"

	"gasper/api"
)

// APIToken is an API token row.
type APIToken struct {
	api.APIToken
	UserID     string
	SecretHash string
}

const tokenCols = `id, user_id, name, secret_hash, created_at, expires_at, last_used_at`

func scanToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var created int64
	var expires, used sql.NullInt64
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.SecretHash, &created, &expires, &used)
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = fromMS(created), fromNullMS(expires), fromNullMS(used)
	return t, err
}

// CreateAPIToken stores a new API token (its secret hashed).
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens(`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
		t.ID, t.UserID, t.Name, t.SecretHash, ms(t.CreatedAt), nullMS(t.ExpiresAt))
	return err
}

// APIToken returns a token by id.
func (s *Store) APIToken(ctx context.Context, id string) (APIToken, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
	return t, notFound(err, "API token "+id)
}

// APITokens lists a user's tokens, newest first.
func (s *Store) APITokens(ctx context.Context, userID string) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TouchAPIToken records that a token was used. It is called at most once a
// minute per token, so it does not turn every request into a write.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(at), id)
	return err
}

// DeleteAPIToken revokes a token.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "API token "+id)
}

// JoinToken is a join token row.
type JoinToken struct {
	ID         string
	SecretHash string
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// CreateJoinToken stores a join token (its secret hashed).
func (s *Store) CreateJoinToken(ctx context.Context, t JoinToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO join_tokens(id, secret_hash, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, t.ID, t.SecretHash, t.CreatedBy, ms(t.CreatedAt), ms(t.ExpiresAt))
	return err
}

// JoinToken returns a join token by id.
func (s *Store) JoinToken(ctx context.Context, id string) (JoinToken, error) {
	var t JoinToken
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id, secret_hash, created_by, created_at, expires_at FROM join_tokens WHERE id = ?`, id).
		Scan(&t.ID, &t.SecretHash, &t.CreatedBy, &created, &expires)
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	return t, notFound(err, "join token")
}
