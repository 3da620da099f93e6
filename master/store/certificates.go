package store

import (
	"context"
	"strings"
	"time"
)

// Certificate is an uploaded certificate; its key is sealed by the caller.
type Certificate struct {
	Name      string
	Hosts     []string
	CertPEM   string
	KeySealed []byte
	NotAfter  time.Time
	CreatedAt time.Time
}

// PutCertificate adds or replaces a certificate.
func (s *Store) PutCertificate(ctx context.Context, c Certificate) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO certificates(name, hosts, cert_pem, key_sealed, not_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET hosts = excluded.hosts, cert_pem = excluded.cert_pem,
		key_sealed = excluded.key_sealed, not_after = excluded.not_after, created_at = excluded.created_at`,
		c.Name, strings.Join(c.Hosts, ","), c.CertPEM, c.KeySealed, ms(c.NotAfter), now())
	return err
}

// Certificates lists the uploaded certificates by name.
func (s *Store) Certificates(ctx context.Context) ([]Certificate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, hosts, cert_pem, key_sealed, not_after, created_at FROM certificates ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		var c Certificate
		var hosts string
		var notAfter, created int64
		if err := rows.Scan(&c.Name, &hosts, &c.CertPEM, &c.KeySealed, &notAfter, &created); err != nil {
			return nil, err
		}
		c.Hosts, c.NotAfter, c.CreatedAt = strings.Split(hosts, ","), fromMS(notAfter), fromMS(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteCertificate removes a certificate.
func (s *Store) DeleteCertificate(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM certificates WHERE name = ?`, name)
	if err != nil {
		return err
	}
	return mustAffect(res, "certificate "+name)
}
