package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxPrepared bounds the statements kept; the store's queries are constant
// strings, far fewer than this.
const maxPrepared = 256

// db is the database with each query prepared once and kept. SQLite parses
// a query every time it is prepared, and parsing was the largest single cost
// of the scheduler's small reads and writes (bench/sched).
type db struct {
	*sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// lookup returns query's kept statement, or nil.
func (d *db) lookup(query string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stmts[query]
}

// prepared returns query's statement, preparing it the first time; nil
// when it cannot be kept (the caller runs the query as it is). No lock is
// held while it prepares: that waits for the one connection, which a
// transaction may hold while it looks up its own statements.
func (d *db) prepared(ctx context.Context, query string) *sql.Stmt {
	if st := d.lookup(query); st != nil {
		return st
	}
	st, err := d.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // running it reports the error
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if kept, ok := d.stmts[query]; ok || len(d.stmts) >= maxPrepared {
		st.Close()
		return kept
	}
	if d.stmts == nil {
		d.stmts = map[string]*sql.Stmt{}
	}
	d.stmts[query] = st
	return st
}

func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return d.DB.ExecContext(ctx, query, args...)
}

func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, query, args...)
}

func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, query, args...)
}

// Close closes the kept statements and the database.
func (d *db) Close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.stmts = nil
	d.mu.Unlock()
	return d.DB.Close()
}

// tx is a transaction that runs the kept statements on its connection.
// A statement is not prepared inside it (that would wait for the
// connection the transaction holds): missed lists the queries to prepare
// once it has ended.
type tx struct {
	*sql.Tx
	d      *db
	missed []string
}

// stmt returns the transaction's use of query's kept statement, or nil.
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := t.d.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
