package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	pebbledb "github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// newClusterWithMaster is newCluster with extra gasper-master flags.
func newClusterWithMaster(t *testing.T, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), api: freeAddr(t), tunnel: freeAddr(t),
		interval: 500 * time.Millisecond, grace: 2 * time.Second, nets: map[string]nodeNet{}, nodeProc: map[string]*proc{}}
	c.cliConfig = filepath.Join(c.dir, "cli")
	args := append([]string{"--data-dir", filepath.Join(c.dir, "master"), "--listen", c.api,
		"--tunnel-listen", c.tunnel, "--tunnel-advertise", c.tunnel, "--log-format", "text",
		"--heartbeat-interval", c.interval.String(), "--heartbeat-grace", c.grace.String()}, extra...)
	c.master = start(t, filepath.Join(c.dir, "master.log"), []string{"GASPER_ADMIN_PASSWORD=" + adminPassword}, "gasper-master", args...)
	t.Cleanup(func() { c.master.stop() })
	waitFor(t, 20*time.Second, "the master's health endpoint", func() bool {
		resp, err := http.Get("http://" + c.api + "/api/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// pebble is an ACME server (letsencrypt's pebble, in-process on loopback).
type pebble struct {
	dir      string // directory URL
	rootPEM  string // file: the ACME server's own TLS root, for --acme-root
	issuing  string // file: the root pebble's certificates chain to
	issuingC *x509.Certificate
}

// startPebble runs pebble whose validation authority resolves names with
// resolver (host:port, asked over TCP) and fetches HTTP-01 tokens from
// port httpPort of the address it gets.
func startPebble(t *testing.T, resolver string, httpPort int) pebble {
	t.Helper()
	// No random sleep before validating, and no nonce rejections to retry.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	plog := &pebbleLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble's log:\n%s", plog.String())
		}
	})
	logger := log.New(plog, "pebble ", 0)
	store := pebbledb.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	// The TLS-ALPN port stays unused: the proxy answers HTTP-01 only.
	validator := va.New(logger, httpPort, 0, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	p := pebble{dir: srv.URL + "/dir", rootPEM: filepath.Join(dir, "acme-server.pem"),
		issuing: filepath.Join(dir, "issuing-root.pem"), issuingC: authority.GetRootCert(0).Cert}
	write := func(path string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(p.rootPEM, srv.Certificate().Raw)
	write(p.issuing, p.issuingC.Raw)
	return p
}

// pebbleLog keeps pebble's log, shown when the test fails. Pebble's
// goroutines may still write after the test ends, when t.Log would panic.
type pebbleLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (w *pebbleLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *pebbleLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestACME gives an app a custom domain on a cluster whose master names an
// ACME server: the proxy gets a certificate for it from pebble, whose
// validation authority resolves the domain through Gasper's own DNS and
// fetches the HTTP-01 token through the proxy, and curl then trusts the
// site with pebble's root alone.
func TestACME(t *testing.T) {
	needContainerd(t)
	// The ports are known before the node starts: pebble must be running
	// before the master, which is told where it is.
	const node, advertise, host = "node1", "127.0.0.2", "www.example.test"
	nn := nodeNet{ns: "gasper-e2e-acme-" + strconv.Itoa(os.Getpid()), bridge: "ge" + strconv.Itoa(os.Getpid()%10000) + "acme",
		subnet: "10.214." + strconv.Itoa(int(nextSubnet())) + ".0/24",
		http:   freePortOn(t, advertise), https: freePortOn(t, advertise), dns: freePortOn(t, advertise)}
	_, httpPort, _ := net.SplitHostPort(nn.http)
	port, _ := strconv.Atoi(httpPort)
	peb := startPebble(t, nn.dns, port)

	c := newClusterWithMaster(t, "--acme-directory", peb.dir, "--acme-root", peb.rootPEM, "--acme-email", "ops@example.test")
	c.nets[node] = nn
	stateDir := filepath.Join(c.dir, node)
	t.Cleanup(func() { cleanupNode(t, nn, stateDir) })
	c.login()
	c.agentRoles(node, advertise, c.joinToken(), "app,proxy,dns")
	c.waitNode(node, "ready", 30*time.Second)

	if _, errOut, code := c.gasper("", "app", "create", "web", "--from", copyExample(t, "static"), "--env", "GREETING=acme", "--wait-timeout", "3m"); code != 0 {
		t.Fatalf("app create: exit %d\n%s", code, errOut)
	}
	c.ok("", "app", "domain", "add", "web", host)

	// Gasper's DNS must answer for the custom domain: pebble asks it.
	waitFor(t, 20*time.Second, host+" in Gasper's DNS", func() bool {
		_, ips := lookup(t, nn.dns, host)
		return strings.Join(ips, ",") == advertise
	})

	issued := x509.NewCertPool()
	issued.AddCert(peb.issuingC)
	var leaf *x509.Certificate
	took := waitFor(t, 2*time.Minute, "a certificate for "+host+" from pebble", func() bool {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", nn.https,
			&tls.Config{ServerName: host, RootCAs: issued})
		if err != nil {
			return false
		}
		leaf = conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		return true
	})
	t.Logf("certificate for %s (issuer %q) served after %s", host, leaf.Issuer.CommonName, took.Round(100*time.Millisecond))

	out, err := curl(t, nn.https, "https://"+host+"/", "--cacert", peb.issuing)
	if err != nil || !strings.Contains(out, "hello=acme") || !strings.HasSuffix(strings.TrimSpace(out), "200 2") {
		t.Fatalf("curl https://%s/ trusting pebble's root: %v\n%s\nagent log:\n%s", host, err, out, tail(c.nodeProc[node].logText(), 30))
	}
	// The app's own name keeps the cloud CA's certificate, which pebble's
	// root does not vouch for.
	if out, err := curl(t, nn.https, "https://web."+domain+"/", "--cacert", peb.issuing); err == nil {
		t.Errorf("web.%s verified with pebble's root, so the proxy served it an ACME certificate:\n%s", domain, out)
	}
}
