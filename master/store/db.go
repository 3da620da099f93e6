package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// db is the database as the store uses it:
//   - every write runs on one connection, in a transaction it shares with the
//     writes that queued meanwhile (group commit): under load, a commit is
//     made for many writes instead of each, and no write waits for another
//     to hand the connection over;
//   - reads run on a small pool of their own, which WAL lets read beside
//     the writer, so they never queue behind writes;
//   - each query is prepared once per connection and kept: SQLite parses a
//     query every time it is prepared, and parsing was the largest single
//     cost of the scheduler's small reads and writes (bench/sched).
type db struct {
	w, r   stmts
	writes chan *write
	closed chan struct{}
	done   chan struct{}
	once   sync.Once
}

// maxBatch bounds the writes one transaction takes.
const maxBatch = 128

var errClosed = errors.New("the database is closed")

// write is one queued write and where its outcome goes.
type write struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan error
}

func openDB(ctx context.Context, file string) (*db, error) {
	base := "file:" + file + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// One connection serialises writers, so SQLITE_BUSY cannot happen inside
	// the process.
	w.SetMaxOpenConns(1)
	if err := w.PingContext(ctx); err != nil { // also switches the file to WAL
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	d := &db{w: stmts{DB: w}, r: stmts{DB: r}, writes: make(chan *write), closed: make(chan struct{}), done: make(chan struct{})}
	go d.writer()
	return d, nil
}

// write runs fn in a transaction, with whatever other writes are queued:
// each in a savepoint of its own, so one that fails leaves the others.
func (d *db) write(ctx context.Context, fn func(*tx) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case d.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.closed:
		return errClosed
	}
	return <-w.done
}

func (d *db) writer() {
	defer close(d.done)
	batch := make([]*write, 0, maxBatch)
	for {
		select {
		case w := <-d.writes:
			batch = append(batch[:0], w)
		case <-d.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-d.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		d.commit(batch)
	}
}

// commit runs a batch of writes in one transaction and tells each its
// outcome. A write whose context ended before its turn is not run. If the
// transaction as a whole fails, every write in it is told so: none of
// them happened.
func (d *db) commit(batch []*write) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, w := range batch {
			w.done <- err
		}
	}
	ctx := context.Background() // not one write's: its end must not undo the others
	stx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin transaction: %w", err))
		return
	}
	t := &tx{Tx: stx, d: d}
	for i, w := range batch {
		if errs[i] = w.ctx.Err(); errs[i] != nil {
			continue
		}
		if len(batch) == 1 {
			errs[i] = w.fn(t)
			break
		}
		if _, err := stx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
			stx.Rollback()
			fail(err)
			return
		}
		if errs[i] = w.fn(t); errs[i] != nil {
			if _, err := stx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
				// SQLite ended the whole transaction (an I/O error, an
				// interrupted statement): nothing of the batch is kept.
				stx.Rollback()
				fail(fmt.Errorf("%w (the transaction was rolled back: %v)", errs[i], err))
				return
			}
		}
		if _, err := stx.ExecContext(ctx, `RELEASE w`); err != nil {
			stx.Rollback()
			fail(err)
			return
		}
	}
	if len(batch) == 1 && errs[0] != nil {
		stx.Rollback()
	} else if err := stx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return
	}
	for i, w := range batch {
		w.done <- errs[i]
	}
	for _, q := range t.missed {
		d.w.prepared(ctx, q)
	}
}

// Close stops the writer, once the write it runs is done, and closes the
// database.
func (d *db) Close() error {
	d.once.Do(func() { close(d.closed) })
	<-d.done
	return errors.Join(d.w.Close(), d.r.Close())
}

// ExecContext runs a write statement (in a transaction with others).
func (d *db) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := d.write(ctx, func(t *tx) error {
		var err error
		res, err = t.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// QueryContext runs a read on the readers' pool.
func (d *db) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.r.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.r.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a read on the readers' pool.
func (d *db) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.r.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.r.DB.QueryRowContext(ctx, query, args...)
}

// maxPrepared bounds the statements kept; the store's queries are constant
// strings, far fewer than this.
const maxPrepared = 256

// stmts is a database with its queries prepared once and kept.
type stmts struct {
	*sql.DB
	mu   sync.Mutex
	kept map[string]*sql.Stmt
}

// lookup returns query's kept statement, or nil.
func (s *stmts) lookup(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept[query]
}

// prepared returns query's statement, preparing it the first time; nil
// when it cannot be kept (the caller runs the query as it is). No lock is
// held while it prepares, which may wait for a connection.
func (s *stmts) prepared(ctx context.Context, query string) *sql.Stmt {
	if st := s.lookup(query); st != nil {
		return st
	}
	st, err := s.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // running it reports the error
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kept, ok := s.kept[query]; ok || len(s.kept) >= maxPrepared {
		st.Close()
		return kept
	}
	if s.kept == nil {
		s.kept = map[string]*sql.Stmt{}
	}
	s.kept[query] = st
	return st
}

// Close closes the kept statements and the database.
func (s *stmts) Close() error {
	s.mu.Lock()
	for _, st := range s.kept {
		st.Close()
	}
	s.kept = nil
	s.mu.Unlock()
	return s.DB.Close()
}

// tx is a write transaction that runs the writer's kept statements. A
// statement is not prepared inside it (that would wait for the connection
// the transaction holds): missed lists the queries to prepare once it has
// ended.
type tx struct {
	*sql.Tx
	d      *db
	missed []string
}

// The statements of a transaction run to their end even when their
// caller's context ends meanwhile: an interrupted statement would make
// SQLite roll back the whole transaction, with the other writes that share
// it. A write whose context ended before its turn is not run (commit).

// stmt returns the transaction's use of query's kept statement, or nil.
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := t.d.w.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}
