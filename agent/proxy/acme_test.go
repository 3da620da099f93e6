package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"gasper/proto"
)

// loopbackDNS answers every A question with 127.0.0.1, so pebble's
// validation authority reaches the proxy under test for any name. Pebble
// asks over TCP.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestACMEWithPebble gets a certificate from a real ACME server (pebble,
// in-process on loopback) whose validation authority checks HTTP-01 by
// fetching the token from the proxy's plain port.
func TestACMEWithPebble(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	const host = "shop.example.com"
	r := startProxy(t, proto.RouteTable{Routes: []proto.Route{
		{App: "shop", Hosts: []string{host}, Backends: []string{named(t, "shop")}},
	}}, nil)
	_, portStr, _ := net.SplitHostPort(r.httpAddr)
	port, _ := strconv.Atoi(portStr)

	logger := log.New(testWriter{t}, "pebble ", 0)
	store := pebbledb.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	// The TLS-ALPN port is unused: the proxy offers HTTP-01 only.
	validator := va.New(logger, port, 0, false, loopbackDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	acmeSrv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(acmeSrv.Close)
	rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: acmeSrv.Certificate().Raw})

	tbl := r.p.Table()
	tbl.Version++
	tbl.ACME = &proto.ACME{DirectoryURL: acmeSrv.URL + "/dir", Email: "ops@example.com", RootPEM: string(rootPEM), Hosts: []string{host}}
	if err := r.p.SetTable(tbl); err != nil {
		t.Fatal(err)
	}

	issued := x509.NewCertPool()
	issued.AddCert(authority.GetRootCert(0).Cert)
	var conn *tls.Conn
	waitFor(t, 60*time.Second, "a certificate from pebble", func() bool {
		c, err := tls.Dial("tcp", r.httpsAddr, &tls.Config{ServerName: host, RootCAs: issued})
		if err != nil {
			return false
		}
		conn = c
		return true
	})
	conn.Close()

	// And the name is served over HTTPS with it.
	c := r.client(true)
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = issued
	resp, err := c.Get("https://" + host + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "shop" {
		t.Errorf("got %d %q", resp.StatusCode, b)
	}
}
