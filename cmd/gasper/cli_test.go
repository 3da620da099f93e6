package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/cmd/gasper/internal/config"
	"gasper/cmd/gasper/internal/iostreams"
)

// testNow is the CLI's clock in tests, so "3s ago" is stable.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// invocation is one in-process run of the CLI.
type invocation struct {
	env   map[string]string // the whole environment the CLI sees
	stdin string
	tty   bool      // stdin and stdout are terminals
	now   time.Time // the CLI's clock; zero means testNow
}

type result struct {
	code           int
	stdout, stderr string
}

func (inv invocation) run(t *testing.T, args ...string) result {
	t.Helper()
	s, in, out, errOut := iostreams.Test()
	in.WriteString(inv.stdin)
	s.SetStdinTTY(inv.tty)
	s.SetStdoutTTY(inv.tty)
	g := &globalOptions{
		io:      s,
		getenv:  func(k string) string { return inv.env[k] },
		now:     func() time.Time { return testNow },
		version: "test",
	}
	if !inv.now.IsZero() {
		g.now = func() time.Time { return inv.now }
	}
	code := execute(context.Background(), g, args)
	return result{code, out.String(), errOut.String()}
}

// newEnv returns an environment with a fresh config directory.
func newEnv(t *testing.T) map[string]string {
	return map[string]string{config.EnvConfigDir: t.TempDir()}
}

// loggedIn saves a session for email with master m into env's config dir,
// its access token expiring after ttl.
func loggedIn(t *testing.T, m *fakeMaster, env map[string]string, email string, ttl time.Duration) api.Session {
	t.Helper()
	s := m.session(email, ttl)
	dir := env[config.EnvConfigDir]
	if err := config.Save(dir, config.Config{Master: m.URL(), Email: email}); err != nil {
		t.Fatal(err)
	}
	if err := config.SaveCredentials(dir, config.Credentials{Master: m.URL(), Session: s}); err != nil {
		t.Fatal(err)
	}
	return s
}

func wantExit(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code = %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

func TestLoginPasswordStdin(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "s3cret", true)
	env := newEnv(t)
	dir := env[config.EnvConfigDir] + "/nested" // login must create it
	env[config.EnvConfigDir] = dir

	r := invocation{env: env, stdin: "s3cret\n"}.run(t, "login", "--master", m.URL()+"/", "--email", "ada@example.com", "--password-stdin")
	wantExit(t, r, 0)
	if want := "Logged in to " + m.URL() + " as ada@example.com\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}

	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, config.CredentialsFile): 0o600} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", name, fi.Mode(), want)
		}
	}
	creds, err := config.LoadCredentials(dir)
	if err != nil || creds == nil {
		t.Fatalf("credentials: %v, %v", creds, err)
	}
	if creds.Master != m.URL() || creds.AccessToken == "" || creds.RefreshToken == "" || creds.AccessExpiresAt.IsZero() {
		t.Errorf("credentials = %+v, want the master and a full token pair", creds)
	}
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(config.Config{Master: m.URL(), Email: "ada@example.com"}, cfg); diff != "" {
		t.Errorf("config.yaml (-want +got):\n%s", diff)
	}

	// The saved session works without any flag.
	r = invocation{env: env}.run(t, "whoami", "--json")
	wantExit(t, r, 0)
}

func TestLoginPrompts(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "s3cret", false)
	env := newEnv(t)
	r := invocation{env: env, stdin: "ada@example.com\ns3cret\n", tty: true}.run(t, "login", "--master", m.URL())
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "Email: ") || !strings.Contains(r.stderr, "Password: ") {
		t.Errorf("stderr = %q, want the two prompts", r.stderr)
	}
	// Next time the email is offered from config.yaml: Enter accepts it.
	r = invocation{env: env, stdin: "\ns3cret\n", tty: true}.run(t, "login")
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "Email [ada@example.com]: ") || !strings.Contains(r.stderr, "as ada@example.com") {
		t.Errorf("stderr = %q, want the saved email offered and used", r.stderr)
	}
}

func TestLoginFailures(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "s3cret", false)
	tests := []struct {
		name      string
		inv       invocation
		args      []string
		code      int
		wantError string
		wantHint  string
	}{
		{"wrong password", invocation{stdin: "nope\n"}, []string{"--master", m.URL(), "--email", "ada@example.com", "--password-stdin"},
			exitAuth, "login failed: invalid email or password", "check the email and password"},
		{"no master anywhere", invocation{stdin: "x\n"}, []string{"--email", "a@b", "--password-stdin"},
			exitUsage, "no master URL given", "run: gasper login --master http://MASTER:7080"},
		{"no terminal, no email", invocation{}, []string{"--master", m.URL()},
			exitUsage, "--email is required when standard input is not a terminal", "see: gasper login --help"},
		{"no terminal, no password", invocation{}, []string{"--master", m.URL(), "--email", "a@b"},
			exitUsage, "--password-stdin is required", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.inv.env = newEnv(t)
			r := tt.inv.run(t, append([]string{"login"}, tt.args...)...)
			wantExit(t, r, tt.code)
			if !strings.HasPrefix(r.stderr, "error: "+tt.wantError) || !strings.Contains(r.stderr, "\nhint: "+tt.wantHint) {
				t.Errorf("stderr = %q, want error %q and hint %q", r.stderr, tt.wantError, tt.wantHint)
			}
			if _, err := os.Stat(filepath.Join(tt.inv.env[config.EnvConfigDir], config.CredentialsFile)); !os.IsNotExist(err) {
				t.Errorf("credentials file exists after a failed login (stat: %v)", err)
			}
		})
	}
}

func TestWhoAmI(t *testing.T) {
	m := newFakeMaster(t)
	u := m.addUser("ada@example.com", "pw", true)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env}.run(t, "whoami")
	wantExit(t, r, 0)
	want := "Email:   ada@example.com\nID:      " + u.ID + "\nAdmin:   yes\nMaster:  " + m.URL() + "\n"
	if r.stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, want)
	}

	r = invocation{env: env}.run(t, "whoami", "--json")
	wantExit(t, r, 0)
	var got api.User
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	if diff := cmp.Diff(u.User, got); diff != "" {
		t.Errorf("user (-want +got):\n%s", diff)
	}
}

func testNodes() []api.Node {
	seen := testNow.Add(-3 * time.Second)
	return []api.Node{
		{ID: "n1", Hostname: "alpha", Advertise: "127.0.0.2", Roles: []string{"app", "db"}, State: api.NodeReady, Connected: true,
			Facts: api.NodeFacts{CPUs: 4, MemoryBytes: 8 << 30}, LastSeen: &seen, JoinedAt: testNow.Add(-time.Hour)},
		{ID: "n2", Hostname: "beta", Advertise: "127.0.0.3", Roles: []string{"proxy"}, State: api.NodeDown,
			Facts: api.NodeFacts{CPUs: 2, MemoryBytes: 1536 << 20}},
	}
}

func TestNodeList(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	m.nodes = testNodes()
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env}.run(t, "node", "list")
	wantExit(t, r, 0)
	want := "" +
		"ID   HOSTNAME   ADVERTISE   ROLES    STATE   CPUS   MEMORY    LAST SEEN\n" +
		"n1   alpha      127.0.0.2   app,db   ready   4      8.0 GiB   3s ago\n" +
		"n2   beta       127.0.0.3   proxy    down    2      1.5 GiB   never\n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	r = invocation{env: env}.run(t, "node", "ls", "--json")
	wantExit(t, r, 0)
	var got []api.Node
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	if diff := cmp.Diff(testNodes(), got, cmpTimes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, "\n  {\n    \"id\": \"n1\"") {
		t.Errorf("--json output is not indented:\n%s", r.stdout)
	}
}

// cmpTimes compares times by instant, not by location.
var cmpTimes = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestNodeInfoNotFound(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	m.nodes = testNodes()
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env}.run(t, "node", "info", "alpha")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "Hostname:    alpha\n") || !strings.Contains(r.stdout, "Memory:      0 B used of 8.0 GiB\n") {
		t.Errorf("stdout =\n%s", r.stdout)
	}

	r = invocation{env: env}.run(t, "node", "info", "gamma")
	wantExit(t, r, exitNotFound)
	if want := "error: not found: no node \"gamma\"\nhint: see what exists with: gasper node list\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
}

func TestNodeToken(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env}.run(t, "node", "token", "--roles", "app,proxy", "--advertise", "127.0.0.9")
	wantExit(t, r, 0)
	token := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(token, "gjt_") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout = %q, want the token alone", r.stdout)
	}
	wantCmd := "  gasper-agent join 127.0.0.1:7443 --token " + token + " --roles app,proxy --advertise 127.0.0.9 --state-dir /var/lib/gasper/agent\n"
	if !strings.Contains(r.stderr, wantCmd) {
		t.Errorf("stderr =\n%s\nwant it to contain\n%s", r.stderr, wantCmd)
	}

	r = invocation{env: env}.run(t, "node", "token", "--json")
	wantExit(t, r, 0)
	var jt api.JoinToken
	if err := json.Unmarshal([]byte(r.stdout), &jt); err != nil || jt.Token == "" || jt.TunnelAddr != "127.0.0.1:7443" {
		t.Fatalf("--json output %q: %+v, %v", r.stdout, jt, err)
	}
	if !strings.Contains(r.stderr, "--token "+jt.Token+" --roles app,db,proxy,dns,ssh --advertise NODE_ADDRESS") {
		t.Errorf("stderr = %q, want the join command with every role and the placeholder address", r.stderr)
	}
}

func TestAuthErrors(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	m.addUser("bob@example.com", "pw", false)

	t.Run("not an admin", func(t *testing.T) {
		env := newEnv(t)
		loggedIn(t, m, env, "bob@example.com", time.Hour)
		r := invocation{env: env}.run(t, "node", "list")
		wantExit(t, r, exitForbidden)
		want := "error: permission denied: admin rights required\nhint: this needs an admin account; an admin can grant it with: gasper user grant-admin EMAIL\n"
		if r.stderr != want || r.stdout != "" {
			t.Errorf("stdout %q stderr %q, want stderr %q", r.stdout, r.stderr, want)
		}
	})

	t.Run("no credentials", func(t *testing.T) {
		env := newEnv(t)
		env[envMaster] = m.URL()
		r := invocation{env: env}.run(t, "whoami")
		wantExit(t, r, exitAuth)
		if want := "error: not logged in\nhint: run: gasper login --master " + m.URL() + "\n"; r.stderr != want {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
	})

	t.Run("nothing configured", func(t *testing.T) {
		r := invocation{env: newEnv(t)}.run(t, "node", "list")
		wantExit(t, r, exitAuth)
		if want := "error: not logged in\nhint: run: gasper login --master URL\n"; r.stderr != want {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
	})

	t.Run("session for another master", func(t *testing.T) {
		env := newEnv(t)
		loggedIn(t, m, env, "ada@example.com", time.Hour)
		r := invocation{env: env}.run(t, "--master", "http://127.0.0.1:1", "whoami")
		wantExit(t, r, exitAuth)
		if !strings.Contains(r.stderr, "not logged in to http://127.0.0.1:1") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})

	t.Run("revoked session", func(t *testing.T) {
		env := newEnv(t)
		s := loggedIn(t, m, env, "ada@example.com", time.Hour)
		// Another client logs the session out: access and refresh die.
		m.mu.Lock()
		delete(m.access, s.AccessToken)
		delete(m.refresh, s.RefreshToken)
		m.mu.Unlock()
		r := invocation{env: env}.run(t, "whoami")
		wantExit(t, r, exitAuth)
		if want := "error: your session has expired or was revoked\nhint: run: gasper login\n"; r.stderr != want {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
	})

	t.Run("rejected api token", func(t *testing.T) {
		env := newEnv(t)
		env[envMaster], env[envToken] = m.URL(), "gsp_unknown"
		r := invocation{env: env}.run(t, "whoami")
		wantExit(t, r, exitAuth)
		if !strings.Contains(r.stderr, "error: the master rejected the API token") || !strings.Contains(r.stderr, "hint: check --token or GASPER_TOKEN") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})
}

func TestExpiredSessionIsRefreshed(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", false)
	env := newEnv(t)
	old := loggedIn(t, m, env, "ada@example.com", -time.Minute) // the master rejects it too

	r := invocation{env: env}.run(t, "whoami", "--json")
	wantExit(t, r, 0)

	creds, err := config.LoadCredentials(env[config.EnvConfigDir])
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessToken == old.AccessToken || creds.RefreshToken == old.RefreshToken {
		t.Fatalf("credentials still hold the old pair: %+v", creds)
	}
	if creds.Master != m.URL() || !creds.AccessExpiresAt.After(time.Now()) {
		t.Errorf("credentials = %+v, want the master kept and a live access token", creds)
	}
	fi, err := os.Stat(filepath.Join(env[config.EnvConfigDir], config.CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode after refresh: %v, %v", fi.Mode(), err)
	}
	// The persisted pair works on the next run: no second refresh, since the
	// first refresh token was spent.
	r = invocation{env: env}.run(t, "whoami")
	wantExit(t, r, 0)
	if m.refreshes != 1 {
		t.Errorf("refreshes = %d, want 1", m.refreshes)
	}
}

func TestPrecedence(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	m.addUser("bob@example.com", "pw", false)
	dead := deadURL(t)
	bobToken := m.apiToken("bob@example.com")

	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		code      int
		wantEmail string
	}{
		{"env master and token override the config file", map[string]string{envMaster: m.URL(), envToken: bobToken}, nil, 0, "bob@example.com"},
		{"flag master overrides env", map[string]string{envMaster: dead, envToken: bobToken}, []string{"--master", m.URL()}, 0, "bob@example.com"},
		{"flag token overrides env", map[string]string{envMaster: m.URL(), envToken: "gsp_wrong"}, []string{"--token", bobToken}, 0, "bob@example.com"},
		{"flag master beats a good env master", map[string]string{envMaster: m.URL(), envToken: bobToken}, []string{"--master", dead}, exitUnreachable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			// The config file points at a dead master with ada's session.
			loggedIn(t, m, env, "ada@example.com", time.Hour)
			if err := config.Save(env[config.EnvConfigDir], config.Config{Master: dead}); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.env {
				env[k] = v
			}
			r := invocation{env: env}.run(t, append(tt.args, "whoami", "--json")...)
			wantExit(t, r, tt.code)
			if tt.code != 0 {
				return
			}
			var u api.User
			if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.Email != tt.wantEmail {
				t.Errorf("whoami = %q (%v), want %s", r.stdout, err, tt.wantEmail)
			}
		})
	}
}

// deadURL returns the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUnreachable(t *testing.T) {
	env := newEnv(t)
	dead := deadURL(t)
	env[envMaster], env[envToken] = dead, "gsp_x"
	r := invocation{env: env}.run(t, "node", "list")
	wantExit(t, r, exitUnreachable)
	if !strings.HasPrefix(r.stderr, "error: cannot reach the master at "+dead+": ") ||
		!strings.HasSuffix(r.stderr, "\nhint: check --master (or GASPER_MASTER) and that gasper-master is running there\n") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestNodeRemoveConfirmation(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)
	tests := []struct {
		name      string
		inv       invocation
		args      []string
		code      int
		wantNodes int
	}{
		{"no terminal, no --yes", invocation{}, []string{"n1"}, exitUsage, 2},
		{"terminal, answered no", invocation{stdin: "n\n", tty: true}, []string{"n1"}, exitError, 2},
		{"terminal, answered yes", invocation{stdin: "y\n", tty: true}, []string{"n1"}, 0, 1},
		{"--yes", invocation{}, []string{"beta", "--yes"}, 0, 0},
	}
	m.nodes = testNodes()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.inv.env = env
			r := tt.inv.run(t, append([]string{"node", "remove"}, tt.args...)...)
			wantExit(t, r, tt.code)
			m.mu.Lock()
			n := len(m.nodes)
			m.mu.Unlock()
			if n != tt.wantNodes {
				t.Errorf("master has %d nodes, want %d (stderr %q)", n, tt.wantNodes, r.stderr)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", false)
	env := newEnv(t)
	s := loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env}.run(t, "logout")
	wantExit(t, r, 0)
	if want := "Logged out of " + m.URL() + "\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(env[config.EnvConfigDir], config.CredentialsFile)); !os.IsNotExist(err) {
		t.Errorf("credentials file still there: %v", err)
	}
	m.mu.Lock()
	_, live := m.access[s.AccessToken]
	m.mu.Unlock()
	if live {
		t.Error("the master still accepts the logged-out session")
	}

	// The master being gone does not keep the credentials around.
	loggedIn(t, m, env, "ada@example.com", time.Hour)
	m.srv.Close()
	r = invocation{env: env}.run(t, "logout")
	wantExit(t, r, exitUnreachable)
	if _, err := os.Stat(filepath.Join(env[config.EnvConfigDir], config.CredentialsFile)); !os.IsNotExist(err) {
		t.Errorf("credentials file still there after a failed logout: %v", err)
	}
}

func TestUserAndTokenCommands(t *testing.T) {
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", true)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)

	r := invocation{env: env, stdin: "hunter22\n"}.run(t, "user", "create", "carol@example.com", "--password-stdin")
	wantExit(t, r, 0)
	if !strings.HasPrefix(r.stderr, "Created user carol@example.com (") {
		t.Errorf("stderr = %q", r.stderr)
	}
	// The new user can log in with that password.
	r = invocation{env: newEnv(t), stdin: "hunter22"}.run(t, "login", "--master", m.URL(), "--email", "carol@example.com", "--password-stdin")
	wantExit(t, r, 0)

	r = invocation{env: env, stdin: "one\ntwo\n", tty: true}.run(t, "user", "create", "dan@example.com")
	wantExit(t, r, exitError)
	if !strings.Contains(r.stderr, "error: the passwords do not match") {
		t.Errorf("stderr = %q", r.stderr)
	}

	r = invocation{env: env}.run(t, "user", "delete", "ada@example.com", "--yes")
	wantExit(t, r, exitError)
	if want := "error: you cannot delete yourself\nhint: another admin must delete this account\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}

	r = invocation{env: env, now: time.Now()}.run(t, "token", "create", "ci")
	wantExit(t, r, 0)
	secret := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(secret, "gsp_") || !strings.Contains(r.stderr, "shown only this once") || !strings.Contains(r.stderr, "expires in 30d") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	// The secret authenticates.
	r = invocation{env: map[string]string{config.EnvConfigDir: t.TempDir(), envMaster: m.URL(), envToken: secret}}.run(t, "whoami", "--json")
	wantExit(t, r, 0)
}
