package httpapi

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"

	"gasper/api"
	"gasper/master/store"
)

func (s *Server) listCertificates(r *http.Request, _ *caller) (any, error) {
	cs, err := s.cfg.Store.Certificates(r.Context())
	if err != nil {
		return nil, err
	}
	out := []api.Certificate{}
	for _, c := range cs {
		out = append(out, api.Certificate{Name: c.Name, Hosts: c.Hosts, NotAfter: c.NotAfter, CreatedAt: c.CreatedAt})
	}
	return out, nil
}

// addCertificate checks that the key matches the chain and that the leaf is
// current, and keeps it (key sealed) under its first name; the proxies get it
// with the next table.
func (s *Server) addCertificate(r *http.Request, c *caller) (any, error) {
	var req api.CertificateRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair([]byte(req.CertPEM), []byte(req.KeyPEM))
	if err != nil {
		return nil, errorf(api.CodeBadRequest, "the certificate and key do not make a pair: %s", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, errorf(api.CodeBadRequest, "the certificate cannot be read: %s", err)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, errorf(api.CodeBadRequest, "the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	if len(leaf.DNSNames) == 0 {
		return nil, errorf(api.CodeBadRequest, "the certificate names no DNS name (subjectAltName)")
	}
	cert := store.Certificate{Name: leaf.DNSNames[0], Hosts: leaf.DNSNames, CertPEM: req.CertPEM,
		KeySealed: s.cfg.Box.Seal([]byte(req.KeyPEM)), NotAfter: leaf.NotAfter}
	if err := s.cfg.Store.PutCertificate(r.Context(), cert); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "certificate.add", cert.Name, "")
	return api.Certificate{Name: cert.Name, Hosts: cert.Hosts, NotAfter: cert.NotAfter, CreatedAt: time.Now().UTC()}, nil
}

func (s *Server) removeCertificate(r *http.Request, c *caller) (any, error) {
	if err := s.cfg.Store.DeleteCertificate(r.Context(), r.PathValue("name")); err != nil {
		return nil, err
	}
	s.audit(r.Context(), c, "certificate.remove", r.PathValue("name"), "")
	return nil, nil
}
