-- Databases, their links to apps, and their backups. Passwords are sealed
-- (master/secrets) before they reach these tables.

CREATE TABLE databases (
	name            TEXT PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,               -- names the data directory on the node
	owner_id        TEXT NOT NULL REFERENCES users(id), -- no cascade: a user with databases cannot be deleted
	engine          TEXT NOT NULL,
	node_id         TEXT NOT NULL DEFAULT '',           -- where it lives ('' while pending)
	memory_bytes    INTEGER NOT NULL,
	cpus            REAL NOT NULL DEFAULT 0,
	password_sealed BLOB NOT NULL,
	generation      INTEGER NOT NULL DEFAULT 0,         -- bumped by restarts
	host_port       INTEGER NOT NULL DEFAULT 0,         -- as last reported by its node
	created_at      INTEGER NOT NULL
);
CREATE INDEX databases_owner ON databases(owner_id);

CREATE TABLE database_links (
	db  TEXT NOT NULL REFERENCES databases(name) ON DELETE CASCADE,
	app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	PRIMARY KEY (db, app)
);

-- Backups outlive their database unless it is deleted with them.
CREATE TABLE backups (
	id          TEXT PRIMARY KEY,
	db          TEXT NOT NULL,
	owner_id    TEXT NOT NULL,
	engine      TEXT NOT NULL,
	size        INTEGER NOT NULL,
	sha256      TEXT NOT NULL,
	duration_ms INTEGER NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX backups_db ON backups(db);
