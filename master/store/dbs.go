package store

import (
	"context"
	"time"

	"gasper/api"
)

// Database is a database row. The password is sealed by the caller.
type Database struct {
	Name           string
	ID             string
	OwnerID        string
	Engine         string
	NodeID         string
	MemoryBytes    int64
	CPUs           float64
	PasswordSealed []byte
	Generation     int
	HostPort       int
	CreatedAt      time.Time
}

const dbCols = `name, id, owner_id, engine, node_id, memory_bytes, cpus, password_sealed, generation, host_port, created_at`

func scanDatabase(row interface{ Scan(...any) error }) (Database, error) {
	var d Database
	var created int64
	err := row.Scan(&d.Name, &d.ID, &d.OwnerID, &d.Engine, &d.NodeID, &d.MemoryBytes, &d.CPUs, &d.PasswordSealed,
		&d.Generation, &d.HostPort, &created)
	d.CreatedAt = fromMS(created)
	return d, err
}

// CreateDatabase adds a database; the name must be free.
func (s *Store) CreateDatabase(ctx context.Context, d Database) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO databases(`+dbCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?)`,
		d.Name, d.ID, d.OwnerID, d.Engine, d.NodeID, d.MemoryBytes, d.CPUs, d.PasswordSealed, now())
	if isUnique(err) {
		return api.Errorf(api.CodeConflict, "a database named %s already exists: choose another name", d.Name)
	}
	return err
}

// Database returns a database by name.
func (s *Store) Database(ctx context.Context, name string) (Database, error) {
	d, err := scanDatabase(s.db.QueryRowContext(ctx, `SELECT `+dbCols+` FROM databases WHERE name = ?`, name))
	return d, notFound(err, "database "+name)
}

// Databases lists databases by name; ownerID "" lists all.
func (s *Store) Databases(ctx context.Context, ownerID string) ([]Database, error) {
	q, args := `SELECT `+dbCols+` FROM databases ORDER BY name`, []any{}
	if ownerID != "" {
		q, args = `SELECT `+dbCols+` FROM databases WHERE owner_id = ? ORDER BY name`, []any{ownerID}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Database
	for rows.Next() {
		d, err := scanDatabase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDatabase runs fn on the database's row inside a transaction and writes back its node,
// generation and port.
func (s *Store) UpdateDatabase(ctx context.Context, name string, fn func(*Database) error) (Database, error) {
	var d Database
	err := s.Tx(ctx, func(tx *tx) error {
		var err error
		d, err = scanDatabase(tx.QueryRowContext(ctx, `SELECT `+dbCols+` FROM databases WHERE name = ?`, name))
		if err != nil {
			return notFound(err, "database "+name)
		}
		if err := fn(&d); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE databases SET node_id = ?, generation = ?, host_port = ? WHERE name = ?`,
			d.NodeID, d.Generation, d.HostPort, name)
		return err
	})
	return d, err
}

// DeleteDatabase removes a database and its links (not its backups).
func (s *Store) DeleteDatabase(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM databases WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return mustAffect(res, "database "+name)
}

// Link records that app gets db's URL; linking twice is no error.
func (s *Store) Link(ctx context.Context, db, app string) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO database_links(db, app) VALUES (?, ?)`, db, app)
	return err
}

// Unlink forgets a link.
func (s *Store) Unlink(ctx context.Context, db, app string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM database_links WHERE db = ? AND app = ?`, db, app)
	if err != nil {
		return err
	}
	return mustAffect(res, "link of database "+db+" to app "+app)
}

// Links lists the apps linked to db.
func (s *Store) Links(ctx context.Context, db string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT app FROM database_links WHERE db = ? ORDER BY app`, db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Backup is a backup row.
type Backup struct {
	api.Backup
	OwnerID string
}

// AddBackup records a backup whose file is stored.
func (s *Store) AddBackup(ctx context.Context, b Backup, took time.Duration) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO backups(id, db, owner_id, engine, size, sha256, duration_ms, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Database, b.OwnerID, b.Engine, b.Size, b.SHA256, took.Milliseconds(), ms(b.CreatedAt))
	return err
}

func scanBackup(row interface{ Scan(...any) error }) (Backup, error) {
	var b Backup
	var took, created int64
	err := row.Scan(&b.ID, &b.Database, &b.OwnerID, &b.Engine, &b.Size, &b.SHA256, &took, &created)
	b.CreatedAt = fromMS(created)
	b.Duration = (time.Duration(took) * time.Millisecond).String()
	return b, err
}

const backupCols = `id, db, owner_id, engine, size, sha256, duration_ms, created_at`

// BackupByID returns one backup.
func (s *Store) BackupByID(ctx context.Context, id string) (Backup, error) {
	b, err := scanBackup(s.db.QueryRowContext(ctx, `SELECT `+backupCols+` FROM backups WHERE id = ?`, id))
	return b, notFound(err, "backup "+id)
}

// Backups lists a database's backups, newest first.
func (s *Store) Backups(ctx context.Context, db string) ([]Backup, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+backupCols+` FROM backups WHERE db = ? ORDER BY created_at DESC, id`, db)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Backup
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBackups forgets a database's backups and returns their ids (the caller removes the files).
func (s *Store) DeleteBackups(ctx context.Context, db string) ([]string, error) {
	bs, err := s.Backups(ctx, db)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM backups WHERE db = ?`, db)
	return ids, err
}
