-- SSH access: the public keys users register, and each app's SSH settings.

-- A key belongs to one user: the key alone says who is logging in.
CREATE TABLE ssh_keys (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	fingerprint  TEXT NOT NULL UNIQUE,    -- SHA256:... of the key
	public_key   TEXT NOT NULL,           -- authorized_keys form, without comment
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER
);
CREATE INDEX ssh_keys_user ON ssh_keys(user_id);

-- An app's optional SSH password (bcrypt) and the branch a git push deploys.
CREATE TABLE app_ssh (
	app           TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
	password_hash TEXT NOT NULL DEFAULT '',
	push_branch   TEXT NOT NULL DEFAULT ''
);
