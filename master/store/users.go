package store

import (
	"context"
	"database/sql"
	"strings"

	"gasper/api"
)

// User is a user row, with the password hash the API never returns.
type User struct {
	api.User
	PasswordHash string
}

const userCols = `id, email, password_hash, admin, created_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Admin, &created)
	u.CreatedAt = fromMS(created)
	return u, err
}

// CreateUser adds a user. The email must be unused (case-insensitively).
func (s *Store) CreateUser(ctx context.Context, email, passwordHash string, admin bool) (User, error) {
	u := User{User: api.User{ID: NewID("u-"), Email: email, Admin: admin}, PasswordHash: passwordHash}
	t := now()
	_, err := s.db.ExecContext(ctx, `INSERT INTO users(`+userCols+`) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, u.Admin, t)
	if isUnique(err) {
		return User{}, api.Errorf(api.CodeConflict, "a user with email %s already exists", email)
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = fromMS(t)
	return u, nil
}

// User returns the user with the given id or email.
func (s *Store) User(ctx context.Context, idOrEmail string) (User, error) {
	col := "id"
	if strings.Contains(idOrEmail, "@") {
		col = "email"
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+col+` = ?`, idOrEmail))
	return u, notFound(err, "user "+idOrEmail)
}

// Users lists every user, oldest first.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, email`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, err
}

// DeleteUser removes a user with their sessions and API tokens.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.Tx(ctx, func(tx *tx) error {
		if err := lastAdminGuard(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if isForeignKey(err) {
			return api.Errorf(api.CodeConflict, "user %s still owns apps: delete them first", id)
		}
		if err != nil {
			return err
		}
		return mustAffect(res, "user "+id)
	})
}

// SetAdmin grants or revokes admin rights. Revoking the last admin is refused,
// so the cloud always has someone who can manage it.
func (s *Store) SetAdmin(ctx context.Context, id string, admin bool) error {
	return s.Tx(ctx, func(tx *tx) error {
		if !admin {
			if err := lastAdminGuard(ctx, tx, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET admin = ? WHERE id = ?`, admin, id)
		if err != nil {
			return err
		}
		return mustAffect(res, "user "+id)
	})
}

// SetPassword replaces a user's password hash and revokes their sessions.
func (s *Store) SetPassword(ctx context.Context, id, passwordHash string) error {
	return s.Tx(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res, "user "+id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now(), id)
		return err
	})
}

func lastAdminGuard(ctx context.Context, tx *tx, id string) error {
	var isAdmin bool
	err := tx.QueryRowContext(ctx, `SELECT admin FROM users WHERE id = ?`, id).Scan(&isAdmin)
	if err != nil {
		return notFound(err, "user "+id)
	}
	if !isAdmin {
		return nil
	}
	var admins int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE admin`).Scan(&admins); err != nil {
		return err
	}
	if admins <= 1 {
		return api.Errorf(api.CodeConflict, "%s is the last admin: grant admin to another user first", id)
	}
	return nil
}

func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return api.Errorf(api.CodeNotFound, "%s not found", what)
	}
	return nil
}
