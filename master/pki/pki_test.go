package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateCAReloadsTheSameCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	first, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CertDER(), second.CertDER()) {
		t.Fatal("reloading the CA gave a different certificate")
	}
	if cn := first.Certificate().Subject.CommonName; cn != "Gasper tunnel CA" || !first.Certificate().IsCA {
		t.Errorf("CA subject %q IsCA=%v", cn, first.Certificate().IsCA)
	}
	for name, want := range map[string]os.FileMode{".": 0o700, KeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
	if !bytes.HasPrefix(first.CertPEM(), []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("CertPEM() is not PEM: %q", first.CertPEM())
	}
}

func TestLoadOrCreateCARefusesHalfACA(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateCA(dir)
	if err == nil || !strings.Contains(err.Error(), "only one of ca.crt and ca.key exists") {
		t.Fatalf("LoadOrCreateCA with the certificate missing: err = %v, want a refusal naming the files", err)
	}
}

func TestServerTLSConfigHandshake(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCfg, err := ca.ServerTLSConfig("127.0.0.1", "master.example.com")
	if err != nil {
		t.Fatal(err)
	}
	leaf := serverCfg.Certificates[0].Leaf
	if got := strings.Join(leaf.DNSNames, ","); got != TunnelServerName+",master.example.com" {
		t.Errorf("DNS SANs = %s", got)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP SANs = %v", leaf.IPAddresses)
	}

	tests := []struct {
		name       string
		trust      *CA
		serverName string
		wantErr    bool
	}{
		{name: "pinned CA and tunnel name", trust: ca, serverName: TunnelServerName},
		{name: "extra SAN", trust: ca, serverName: "master.example.com"},
		{name: "other CA", trust: other, serverName: TunnelServerName, wantErr: true},
		{name: "name not in certificate", trust: ca, serverName: "evil.example.com", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := x509.NewCertPool()
			pool.AddCert(tt.trust.Certificate())
			err := handshake(t, serverCfg, &tls.Config{RootCAs: pool, ServerName: tt.serverName})
			if (err != nil) != tt.wantErr {
				t.Fatalf("handshake error = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// handshake runs one TLS handshake over loopback and returns the client's
// error.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err == nil {
		c.Close()
	}
	<-done
	return err
}
