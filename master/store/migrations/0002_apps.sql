-- Applications and their releases. Env values and git tokens are sealed
-- (master/secrets) before they reach these tables.

CREATE TABLE apps (
	name          TEXT PRIMARY KEY,
	owner_id      TEXT NOT NULL REFERENCES users(id), -- no cascade: a user with apps cannot be deleted
	config        TEXT NOT NULL,                      -- JSON api.AppConfig
	env_sealed    BLOB,                               -- sealed JSON map of the desired env
	git_url       TEXT NOT NULL DEFAULT '',
	git_branch    TEXT NOT NULL DEFAULT '',
	git_token     BLOB,                               -- sealed
	release       INTEGER NOT NULL DEFAULT 0,         -- current release
	generation    INTEGER NOT NULL DEFAULT 0,         -- bumped by restarts
	node_id       TEXT NOT NULL DEFAULT '',           -- where it runs
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX apps_owner ON apps(owner_id);

CREATE TABLE releases (
	app         TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	number      INTEGER NOT NULL,
	status      TEXT NOT NULL,
	cause       TEXT NOT NULL,
	source      TEXT NOT NULL,            -- sha256 of the source archive
	runtime     TEXT NOT NULL DEFAULT '',
	image       TEXT NOT NULL DEFAULT '',
	start_cmd   TEXT NOT NULL DEFAULT '',
	port        INTEGER NOT NULL DEFAULT 0,
	env_sealed  BLOB,                     -- the env this release runs with
	error       TEXT NOT NULL DEFAULT '',
	build_log   TEXT NOT NULL DEFAULT '',
	build_node  TEXT NOT NULL DEFAULT '',
	build_ms    INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	built_at    INTEGER,
	PRIMARY KEY (app, number)
);
