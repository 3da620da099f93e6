package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"gasper/api"
)

// Event is an audit event to write.
type Event struct{ Actor, Action, Target, Detail string }

// Audit appends an event to the audit log.
func (s *Store) Audit(ctx context.Context, actor, action, target, detail string) error {
	return audit(ctx, s.db, Event{actor, action, target, detail})
}

func audit(ctx context.Context, q execer, e Event) error {
	_, err := q.ExecContext(ctx, `INSERT INTO audit(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)`,
		now(), e.Actor, e.Action, e.Target, e.Detail)
	return err
}

// AuditEvents returns up to limit events, newest first.
func (s *Store) AuditEvents(ctx context.Context, limit int) ([]api.AuditEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []api.AuditEvent
	for rows.Next() {
		var e api.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastAudit returns the newest event about target with one of actions.
func (s *Store) LastAudit(ctx context.Context, target string, actions ...string) (api.AuditEvent, bool, error) {
	q := `SELECT id, at, actor, action, target, detail FROM audit WHERE target = ? AND action IN (?` + strings.Repeat(", ?", len(actions)-1) + `) ORDER BY id DESC LIMIT 1`
	args := []any{target}
	for _, a := range actions {
		args = append(args, a)
	}
	var e api.AuditEvent
	var at int64
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return api.AuditEvent{}, false, nil
	}
	e.Time = fromMS(at)
	return e, err == nil, err
}
