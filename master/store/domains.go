package store

import (
	"context"

	"gasper/api"
)

// AddDomain gives an app a custom domain; a domain belongs to one app.
func (s *Store) AddDomain(ctx context.Context, app, name string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO domains(name, app, created_at) VALUES (?, ?, ?)`, name, app, now())
	if isUnique(err) {
		return api.Errorf(api.CodeConflict, "domain %s is already in use", name)
	}
	return err
}

// RemoveDomain takes a custom domain from an app.
func (s *Store) RemoveDomain(ctx context.Context, app, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM domains WHERE name = ? AND app = ?`, name, app)
	if err != nil {
		return err
	}
	return mustAffect(res, "domain "+name+" of app "+app)
}

// Domains maps every app with custom domains to them, sorted.
func (s *Store) Domains(ctx context.Context) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT app, name FROM domains ORDER BY app, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var app, name string
		if err := rows.Scan(&app, &name); err != nil {
			return nil, err
		}
		out[app] = append(out[app], name)
	}
	return out, rows.Err()
}
