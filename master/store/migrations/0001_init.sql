-- Users, sessions, API tokens, join tokens, nodes, audit log.
-- Times are Unix milliseconds (UTC).

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
	password_hash TEXT NOT NULL,
	admin         INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

-- A login session: one refresh token at a time (rotated on use); access JWTs
-- name the session, so logging out revokes them at once.
CREATE TABLE sessions (
	id                 TEXT PRIMARY KEY,
	user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	refresh_hash       TEXT NOT NULL,
	created_at         INTEGER NOT NULL,
	refresh_expires_at INTEGER NOT NULL,
	revoked_at         INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	secret_hash  TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER,
	last_used_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE join_tokens (
	id          TEXT PRIMARY KEY,
	secret_hash TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
);

CREATE TABLE nodes (
	id              TEXT PRIMARY KEY,
	hostname        TEXT NOT NULL,
	advertise       TEXT NOT NULL,
	roles           TEXT NOT NULL,          -- comma-separated
	state           TEXT NOT NULL,
	credential_hash TEXT NOT NULL,
	facts           TEXT NOT NULL,          -- JSON api.NodeFacts
	joined_at       INTEGER NOT NULL,
	last_seen       INTEGER
);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
);
