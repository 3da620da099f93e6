-- Certificates operators upload for custom domains; keys are sealed.
CREATE TABLE certificates (
	name       TEXT PRIMARY KEY,  -- the certificate's first name
	hosts      TEXT NOT NULL,     -- comma-separated names it is valid for
	cert_pem   TEXT NOT NULL,
	key_sealed BLOB NOT NULL,
	not_after  INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
