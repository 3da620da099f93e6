-- Custom domains: each answers for one app, through the proxies.
CREATE TABLE domains (
	name       TEXT PRIMARY KEY,
	app        TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
);
CREATE INDEX domains_app ON domains(app);
