package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gasper/proto"
)

// TestMain re-runs the test binary with GODEBUG=http2xconnect=1, the switch
// that lets Go's HTTP/2 server accept WebSockets by extended CONNECT; it is
// read once at start, so it has to be in the environment.
func TestMain(m *testing.M) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		env := os.Getenv("GODEBUG")
		if env != "" {
			env += ","
		}
		env += "http2xconnect=1"
		if err := syscall.Exec(os.Args[0], os.Args, append(os.Environ(), "GODEBUG="+env)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

const domain = "apps.test"

// testCA is a throwaway CA and a certificate it signed for *.apps.test.
type testCA struct {
	pool    *x509.CertPool
	certPEM string
	keyPEM  string
	caPEM   string
}

func newTestCA(t *testing.T, hosts ...string) *testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gasper test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{
		pool:    pool,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
		caPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
	}
}

// running is a Proxy serving on loopback.
type running struct {
	p         *Proxy
	httpAddr  string
	httpsAddr string
	ca        *testCA
	dir       string
}

// startProxy runs a proxy with table t (Version forced to 1 if zero) and
// the test CA's wildcard certificate for *.apps.test added.
func startProxy(t *testing.T, t0 proto.RouteTable, tweak func(*Config)) *running {
	t.Helper()
	ca := newTestCA(t, "*."+domain, domain)
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{
		HTTPAddr:  plain.Addr().String(),
		HTTPSAddr: secure.Addr().String(),
		StateDir:  dir,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if t0.Version == 0 {
		t0.Version = 1
	}
	t0.Domain = domain
	t0.Certificates = append(t0.Certificates, proto.Certificate{Hosts: []string{"*." + domain}, CertPEM: ca.certPEM, KeyPEM: ca.keyPEM})
	if err := p.SetTable(t0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, plain, secure) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("proxy did not stop")
		}
	})
	return &running{p: p, httpAddr: plain.Addr().String(), httpsAddr: secure.Addr().String(), ca: ca, dir: dir}
}

// testWriter sends logs to t.Log, so they show only for failing tests.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// client returns an HTTP client that sends every request to the proxy,
// whatever the URL's host: plain for http:// URLs, TLS (trusting the test
// CA, SNI from the URL) for https:// ones. h2 forces HTTP/2 on TLS.
func (r *running) client(h2 bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasSuffix(addr, ":443") {
				return d.DialContext(ctx, network, r.httpsAddr)
			}
			return d.DialContext(ctx, network, r.httpAddr)
		},
		TLSClientConfig:    &tls.Config{RootCAs: r.ca.pool},
		ForceAttemptHTTP2:  h2,
		DisableCompression: true,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches url through c and returns status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// backend starts an HTTP/1.1 server on loopback and returns its address.
func backend(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// named is a backend answering its own name.
func named(t *testing.T, name string) string {
	return backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, name)
	}))
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
