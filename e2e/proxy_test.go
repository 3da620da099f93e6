package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const domain = "gasper.internal"

// curl runs the real curl through a node's proxy, resolving host to it.
func curl(t *testing.T, proxyAddr, url string, extra ...string) (string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(proxyAddr)
	name := strings.SplitN(strings.SplitN(url, "://", 2)[1], "/", 2)[0]
	args := append([]string{"-sS", "--max-time", "10", "--resolve", name + ":" + port + ":" + host, "-o", "-", "-w", "\n%{http_code} %{http_version}"}, extra...)
	out, err := exec.Command("curl", append(args, strings.Replace(url, name, name+":"+port, 1))...).CombinedOutput()
	return string(out), err
}

// lookup asks a DNS server for a name's A records.
func lookup(t *testing.T, server, name string) (int, []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := new(dns.Client).Exchange(m, server)
	if err != nil {
		t.Fatalf("DNS query for %s at %s: %v", name, server, err)
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	sort.Strings(ips)
	return r.Rcode, ips
}

// TestProxyAndDNS: apps by name through two proxies with real clients,
// resolved by Gasper's DNS; redeploys under load lose no request; the data
// plane outlives the master.
func TestProxyAndDNS(t *testing.T) {
	needContainerd(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed: apt-get install curl")
	}
	c := newCluster(t)
	c.login()
	tok := c.joinToken()
	c.agentRoles("node1", "127.0.0.2", tok, "app,proxy,dns")
	c.agentRoles("node2", "127.0.0.3", tok, "proxy")
	c.waitNode("node1", "ready", 30*time.Second)
	c.waitNode("node2", "ready", 30*time.Second)
	p1, p2, dnsAddr := c.nets["node1"], c.nets["node2"], c.nets["node1"].dns

	src := copyExample(t, "static")
	_, errOut, code := c.gasper("", "app", "create", "web", "--from", src, "--env", "GREETING=proxied", "--wait-timeout", "3m")
	if code != 0 {
		t.Fatalf("app create: %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "https://web."+domain) {
		t.Errorf("app create did not print the app's URL:\n%s", errOut)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte(c.ok("", "ca")), 0o644)

	url := "http://web." + domain + "/"
	for _, p := range []nodeNet{p1, p2} {
		waitFor(t, 20*time.Second, "the proxy at "+p.http+" to route web", func() bool {
			out, _ := curl(t, p.http, url)
			return strings.Contains(out, "hello=proxied")
		})
		for _, tc := range []struct {
			name, addr, url, proto string
			args                   []string
		}{
			{"HTTP/1.1", p.http, url, " 1.1", nil},
			{"h2c prior knowledge", p.http, url, " 2", []string{"--http2-prior-knowledge"}},
			{"HTTP/2 over TLS, verified by gasper ca", p.https, "https://web." + domain + "/", " 2", []string{"--http2", "--cacert", ca}},
		} {
			out, err := curl(t, tc.addr, tc.url, tc.args...)
			if err != nil || !strings.Contains(out, "hello=proxied") || !strings.HasSuffix(strings.TrimSpace(out), "200"+tc.proto) {
				t.Errorf("%s through %s: %v\n%s", tc.name, tc.addr, err, out)
			}
		}
	}
	// The HTTP-to-HTTPS redirect is the app's setting.
	c.ok("", "app", "update", "web", "--redirect-https=true")
	waitFor(t, 30*time.Second, "plain HTTP to redirect to HTTPS", func() bool {
		out, _ := curl(t, p1.http, url)
		return strings.HasSuffix(strings.TrimSpace(out), "308 1.1")
	})
	c.ok("", "app", "update", "web", "--redirect-https=false")
	waitFor(t, 30*time.Second, "plain HTTP to serve again", func() bool {
		out, _ := curl(t, p1.http, url)
		return strings.Contains(out, "hello=proxied")
	})

	// An operator's own certificate for a custom domain is served by SNI.
	chain, key, opCA := operatorCert(t, "www.uploaded.test")
	c.ok("", "cert", "add", "--cert", chain, "--key", key)
	c.ok("", "app", "domain", "add", "web", "www.uploaded.test")
	waitFor(t, 20*time.Second, "the proxy to serve the uploaded certificate", func() bool {
		out, _ := curl(t, p1.https, "https://www.uploaded.test/", "--cacert", opCA)
		return strings.Contains(out, "hello=proxied")
	})
	if out := c.ok("", "cert", "list"); !strings.Contains(out, "www.uploaded.test") {
		t.Errorf("cert list: %s", out)
	}
	if out, _ := curl(t, p1.http, "http://nothing."+domain+"/"); !strings.Contains(out, "404") {
		t.Errorf("unknown host: %s", out)
	}

	// DNS: the app resolves to both proxies; a dead proxy leaves the answer.
	if rc, ips := lookup(t, dnsAddr, "web."+domain); rc != dns.RcodeSuccess || strings.Join(ips, ",") != "127.0.0.2,127.0.0.3" {
		t.Fatalf("web.%s: rcode %d, %v; want both proxies", domain, rc, ips)
	}
	if rc, _ := lookup(t, dnsAddr, "nothing."+domain); rc != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %d, want NXDOMAIN", rc)
	}
	c.nodeProc["node2"].kill()
	took := waitFor(t, 15*time.Second, "the dead proxy to leave the DNS answer", func() bool {
		_, ips := lookup(t, dnsAddr, "web."+domain)
		return strings.Join(ips, ",") == "127.0.0.2"
	})
	t.Logf("dead proxy left the DNS answer after %s", took.Round(100*time.Millisecond))
	c.agentRoles("node2", "127.0.0.3", "", "proxy")
	waitFor(t, 20*time.Second, "the proxy to come back in the DNS answer", func() bool {
		_, ips := lookup(t, dnsAddr, "web."+domain)
		return len(ips) == 2
	})

	// Ten redeploys under a steady request loop through the proxy: none fails.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := curl(t, p1.http, url)
				if err == nil && strings.HasSuffix(strings.TrimSpace(out), "200 1.1") {
					ok.Add(1)
				} else {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, out)
				}
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		c.ok("", "app", "env", "set", "web", "GREETING=round"+strings.Repeat("x", i))
		rel := c.app("web").Release
		c.waitApp("web", "running", rel, 60*time.Second)
		waitFor(t, 20*time.Second, "the proxy to serve round "+strings.Repeat("x", i), func() bool {
			out, _ := curl(t, p1.http, url)
			return strings.Contains(out, "hello=round"+strings.Repeat("x", i)+"\n") || strings.Contains(out, "hello=round"+strings.Repeat("x", i)+"<")
		})
	}
	close(stop)
	wg.Wait()
	t.Logf("10 redeploys under load: %d requests served, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 || ok.Load() < 50 {
		t.Fatalf("redeploys under load: %d ok, %d failed; first failure: %v", ok.Load(), failed.Load(), firstErr.Load())
	}

	// The master goes away: the proxies keep serving; a proxy restarted
	// meanwhile serves from the table it saved.
	c.master.stop()
	if out, _ := curl(t, p1.http, url); !strings.Contains(out, "hello=round") {
		t.Fatalf("proxy without the master: %s", out)
	}
	c.nodeProc["node2"].stop()
	c.agentRoles("node2", "127.0.0.3", "", "proxy")
	waitFor(t, 20*time.Second, "the restarted proxy to serve from its saved table", func() bool {
		out, _ := curl(t, p2.http, url)
		return strings.Contains(out, "hello=round")
	})
	c.startMaster()
}
