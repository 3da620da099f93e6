package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gasper/api"
)

// SSHKey is a registered public key row.
type SSHKey struct {
	ID          string
	UserID      string
	Name        string
	Fingerprint string
	PublicKey   string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
}

const sshKeyCols = `id, user_id, name, fingerprint, public_key, created_at, last_used_at`

func scanSSHKey(row interface{ Scan(...any) error }) (SSHKey, error) {
	var k SSHKey
	var created int64
	var used sql.NullInt64
	err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Fingerprint, &k.PublicKey, &created, &used)
	k.CreatedAt, k.LastUsedAt = fromMS(created), fromNullMS(used)
	return k, err
}

// AddSSHKey registers a key; a key (by fingerprint) belongs to one user.
func (s *Store) AddSSHKey(ctx context.Context, k SSHKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ssh_keys(`+sshKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, NULL)`,
		k.ID, k.UserID, k.Name, k.Fingerprint, k.PublicKey, ms(k.CreatedAt))
	if isUnique(err) {
		return api.Errorf(api.CodeConflict, "the key %s is already registered (a key can belong to one user only): generate another with ssh-keygen", k.Fingerprint)
	}
	return err
}

// SSHKeys lists a user's keys, oldest first; userID "" lists everyone's.
func (s *Store) SSHKeys(ctx context.Context, userID string) ([]SSHKey, error) {
	q, args := `SELECT `+sshKeyCols+` FROM ssh_keys ORDER BY created_at, id`, []any{}
	if userID != "" {
		q, args = `SELECT `+sshKeyCols+` FROM ssh_keys WHERE user_id = ? ORDER BY created_at, id`, []any{userID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SSHKey
	for rows.Next() {
		k, err := scanSSHKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// SSHKey returns a key by id.
func (s *Store) SSHKey(ctx context.Context, id string) (SSHKey, error) {
	k, err := scanSSHKey(s.db.QueryRowContext(ctx, `SELECT `+sshKeyCols+` FROM ssh_keys WHERE id = ?`, id))
	return k, notFound(err, "SSH key "+id)
}

// SSHKeyByFingerprint returns the key with a fingerprint.
func (s *Store) SSHKeyByFingerprint(ctx context.Context, fingerprint string) (SSHKey, error) {
	k, err := scanSSHKey(s.db.QueryRowContext(ctx, `SELECT `+sshKeyCols+` FROM ssh_keys WHERE fingerprint = ?`, fingerprint))
	return k, notFound(err, "SSH key "+fingerprint)
}

// TouchSSHKey records that a key was used to log in.
func (s *Store) TouchSSHKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE ssh_keys SET last_used_at = ? WHERE id = ?`, ms(at), id)
	return err
}

// DeleteSSHKey removes a key.
func (s *Store) DeleteSSHKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ssh_keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return mustAffect(res, "SSH key "+id)
}

// AppSSH is an app's SSH settings row.
type AppSSH struct {
	App          string
	PasswordHash string // bcrypt; "" means no password
	PushBranch   string // "" means main
}

// AppSSH returns an app's SSH settings (the defaults when it has none).
func (s *Store) AppSSH(ctx context.Context, app string) (AppSSH, error) {
	a := AppSSH{App: app}
	err := s.db.QueryRowContext(ctx, `SELECT password_hash, push_branch FROM app_ssh WHERE app = ?`, app).Scan(&a.PasswordHash, &a.PushBranch)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	return a, err
}

// PutAppSSH writes an app's SSH settings.
func (s *Store) PutAppSSH(ctx context.Context, a AppSSH) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO app_ssh(app, password_hash, push_branch) VALUES (?, ?, ?)
		ON CONFLICT(app) DO UPDATE SET password_hash = excluded.password_hash, push_branch = excluded.push_branch`,
		a.App, a.PasswordHash, a.PushBranch)
	return err
}
