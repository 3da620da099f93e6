package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/api"
	"gasper/cmd/gasper/internal/iostreams"
)

// appEnv returns a fake master with users ada and bob (not admins) and an
// environment logged in as ada.
func appEnv(t *testing.T) (*fakeMaster, map[string]string) {
	t.Helper()
	m := newFakeMaster(t)
	m.addUser("ada@example.com", "pw", false)
	m.addUser("bob@example.com", "pw", false)
	env := newEnv(t)
	loggedIn(t, m, env, "ada@example.com", time.Hour)
	return m, env
}

// srcTree writes files under a new directory and returns it.
func srcTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarListing lists a gzip'd tar: "name" for files (with their content
// after a colon), "name/" for directories.
func tarListing(t *testing.T, b []byte) []string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the upload is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the upload is not a tar: %v", err)
		}
		entry := h.Name
		if h.Typeflag == tar.TypeReg {
			c, _ := io.ReadAll(tr)
			entry += ":" + string(c)
		}
		out = append(out, entry)
	}
}

func TestAppCreateFromDir(t *testing.T) {
	m, env := appEnv(t)
	m.apps.BuildLines = []string{"==> Detected runtime static", "copying files"}
	dir := srcTree(t, map[string]string{
		"index.html": "<h1>hi</h1>", "debug.log": "noise", ".gitignore": "*.log\n",
		"assets/app.css": "body{}", ".git/HEAD": "ref: refs/heads/main",
	})

	r := invocation{env: env}.run(t, "app", "create", "web", "--from", dir, "--env", "A=1", "--memory", "256M", "--port", "8080")
	wantExit(t, r, 0)
	if r.stdout != "http://127.0.0.2:30001\n" {
		t.Errorf("stdout = %q, want the address alone", r.stdout)
	}
	for _, want := range []string{"Packed " + dir + ": 3 files, ", "Created app web\n",
		"==> Detected runtime static\ncopying files\n==> build succeeded in 1.5s\n", "web is running release 1, directly at:\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
		}
	}

	if len(m.apps.Creates) != 1 {
		t.Fatalf("creates = %d, want 1", len(m.apps.Creates))
	}
	wantReq := api.CreateAppRequest{Name: "web", AppConfig: api.AppConfig{Port: 8080, MemoryBytes: 256 << 20}, Env: map[string]string{"A": "1"}}
	if diff := cmp.Diff(wantReq, m.apps.Creates[0]); diff != "" {
		t.Errorf("create request (-want +got):\n%s", diff)
	}
	if len(m.apps.Uploads) != 1 || m.apps.Uploads[0].ContentType != "application/gzip" {
		t.Fatalf("uploads = %+v, want one application/gzip", m.apps.Uploads)
	}
	want := []string{".gitignore:*.log\n", "assets/", "assets/app.css:body{}", "index.html:<h1>hi</h1>"}
	if diff := cmp.Diff(want, tarListing(t, m.apps.Uploads[0].Body)); diff != "" {
		t.Errorf("uploaded archive (-want +got):\n%s", diff)
	}

	// Deploying the same tree again uploads the same bytes.
	r = invocation{env: env}.run(t, "app", "deploy", "-a", "web", "--from", dir, "--json")
	wantExit(t, r, 0)
	if !bytes.Equal(m.apps.Uploads[0].Body, m.apps.Uploads[1].Body) {
		t.Error("the same tree gave a different archive")
	}
	var a api.App
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a.Release != 2 || a.Status != api.AppRunning {
		t.Errorf("--json output %q: %+v, %v; want release 2 running", r.stdout, a, err)
	}
}

func TestAppCreateFromGit(t *testing.T) {
	m, env := appEnv(t)
	r := invocation{env: env, stdin: "s3cret-token\n"}.run(t, "app", "create", "api", "--git", "https://git.invalid/api.git",
		"--branch", "main", "--git-token-stdin", "--health-tcp", "--runtime", "golang")
	wantExit(t, r, 0)
	if r.stdout != "http://127.0.0.2:30001\n" || !strings.Contains(r.stderr, "==> build succeeded") {
		t.Errorf("stdout %q stderr %q; want the address and the followed build", r.stdout, r.stderr)
	}
	want := api.CreateAppRequest{Name: "api", AppConfig: api.AppConfig{Runtime: "golang", Health: &api.HealthCheck{Type: "tcp"}},
		Git: &api.GitSource{URL: "https://git.invalid/api.git", Branch: "main", Token: "s3cret-token"}}
	if diff := cmp.Diff(want, m.apps.Creates[0]); diff != "" {
		t.Errorf("create request (-want +got):\n%s", diff)
	}
	if len(m.apps.Uploads) != 0 {
		t.Errorf("a git app uploaded %d archives", len(m.apps.Uploads))
	}
}

func TestAppCreateFailures(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(m *fakeMaster) []string // returns extra args
		code       int
		wantStderr []string
		wantCreate bool
	}{
		{"failed build", func(m *fakeMaster) []string {
			m.apps.BuildLines = []string{"==> npm install", "npm ERR! missing script: build"}
			m.apps.BuildFail = "build command exited with 1"
			return []string{"--from", srcTree(t, map[string]string{"package.json": "{}"})}
		}, exitError, []string{
			"npm ERR! missing script: build\n==> build failed: build command exited with 1\n",
			"error: the build of release 1 of web failed: build command exited with 1\n",
			"hint: see the releases with: gasper app releases web, and the app's logs with: gasper app logs web\n",
		}, true},
		{"crash after the build", func(m *fakeMaster) []string {
			m.apps.RunStatus = api.AppCrashLoop
			m.apps.RunInstances = []api.Instance{{ID: "i1", NodeName: "alpha", Release: 1, State: api.AppCrashLoop, Restarts: 3, ExitCode: 2,
				LastLog: "panic: no DATABASE_URL\n"}}
			return []string{"--from", srcTree(t, map[string]string{"main.go": "package main"})}
		}, exitError, []string{
			"Instance i1 on alpha: crashloop (3 restarts, exit code 2)\nIts last lines:\n  panic: no DATABASE_URL\n",
			"error: web does not run release 1: it is crashloop\n",
			"hint: see its logs with: gasper app logs web",
		}, true},
		{"no source", func(m *fakeMaster) []string { return nil }, exitUsage, []string{
			"error: nothing to deploy: give --from DIR, --git URL or --empty\nhint: deploy the current directory with: gasper app create web --from .\n",
		}, false},
		{"link outside the directory", func(m *fakeMaster) []string {
			dir := srcTree(t, map[string]string{"index.html": ""})
			if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
				t.Fatal(err)
			}
			return []string{"--from", dir}
		}, exitError, []string{"symbolic link passwd points to the absolute path /etc/passwd", "hint: replace the link by a copy"}, false},
		{"taken name", func(m *fakeMaster) []string {
			m.addApp("bob@example.com", "web")
			return []string{"--from", srcTree(t, nil)}
		}, exitError, []string{"error: app \"web\" exists\nhint: deploy a new release of an existing app with: gasper app deploy web --from DIR\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, env := appEnv(t)
			args := append([]string{"app", "create", "web"}, tt.setup(m)...)
			r := invocation{env: env}.run(t, args...)
			wantExit(t, r, tt.code)
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
				}
			}
			if got := len(m.apps.Creates) > 0; got != tt.wantCreate {
				t.Errorf("app create sent: %v, want %v", got, tt.wantCreate)
			}
		})
	}
}

func TestAppWaitTimeout(t *testing.T) {
	m, env := appEnv(t)
	m.apps.RunStatus = api.AppPending
	m.apps.RunInstances = []api.Instance{}
	r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil), "--wait-timeout", "50ms")
	wantExit(t, r, exitError)
	if !strings.Contains(r.stderr, "error: web does not run release 1 after 50ms: it is pending (release 1)\nhint: see how it stands with: gasper app info web") {
		t.Errorf("stderr = %s", r.stderr)
	}
}

func TestAppNoWait(t *testing.T) {
	m, env := appEnv(t)
	m.apps.BuildLines = []string{"should not be shown"}
	r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil), "--no-wait")
	wantExit(t, r, 0)
	if r.stdout != "" || strings.Contains(r.stderr, "should not be shown") || !strings.Contains(r.stderr, "Release 1 of web is on its way") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if len(m.apps.Uploads) != 1 {
		t.Errorf("uploads = %d, want 1", len(m.apps.Uploads))
	}
}

func TestAppEnv(t *testing.T) {
	m, env := appEnv(t)
	m.addApp("ada@example.com", "web")

	r := invocation{env: env}.run(t, "app", "env", "set", "web", "A=1", "URL=postgres://x/y?a=b", "EMPTY=")
	wantExit(t, r, 0)
	r = invocation{env: env}.run(t, "app", "env", "unset", "-a", "web", "A")
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "Release 2 of web: unset A") {
		t.Errorf("stderr = %q", r.stderr)
	}
	want := []api.EnvRequest{
		{Set: map[string]string{"A": "1", "URL": "postgres://x/y?a=b", "EMPTY": ""}},
		{Unset: []string{"A"}},
	}
	if diff := cmp.Diff(want, m.apps.EnvRequests); diff != "" {
		t.Errorf("env requests (-want +got):\n%s", diff)
	}

	r = invocation{env: env}.run(t, "app", "env", "list", "web")
	wantExit(t, r, 0)
	if want := "EMPTY=\nURL=postgres://x/y?a=b\n"; r.stdout != want {
		t.Errorf("env list = %q, want %q", r.stdout, want)
	}

	r = invocation{env: env}.run(t, "app", "env", "set", "web", "NOVALUE")
	wantExit(t, r, exitUsage)
	r = invocation{env: env}.run(t, "app", "env", "unset", "web", "A=1")
	wantExit(t, r, exitUsage)
	if !strings.Contains(r.stderr, "hint: unset takes names only") {
		t.Errorf("stderr = %q", r.stderr)
	}
	if len(m.apps.EnvRequests) != 2 {
		t.Errorf("a refused command reached the master: %d env requests", len(m.apps.EnvRequests))
	}
}

// TestAppLogsFollow runs logs -f against a stream the master holds open:
// the lines must reach stdout while it is open, and an interrupt ends the
// command successfully.
func TestAppLogsFollow(t *testing.T) {
	m, env := appEnv(t)
	m.addApp("ada@example.com", "web")
	m.apps.LogLines = []string{"GET / 200", "GET /x 404"}
	m.apps.LogsHold = make(chan struct{})
	t.Cleanup(func() { close(m.apps.LogsHold) })

	s, _, _, errOut := iostreams.Test()
	pr, pw := io.Pipe()
	s.Out = pw
	g := &globalOptions{io: s, getenv: func(k string) string { return env[k] }, now: func() time.Time { return testNow }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, g, []string{"app", "logs", "web", "-f", "--tail", "10"})
		pw.Close()
	}()

	br := bufio.NewReader(pr)
	for _, want := range m.apps.LogLines {
		got, err := br.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("line = %q, %v; want %q while the stream is open", got, err, want)
		}
	}
	cancel() // Ctrl-C
	go io.Copy(io.Discard, pr)
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code = %d after an interrupt, want 0 (stderr %q)", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end after the interrupt")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if diff := cmp.Diff([]string{"follow=1&tail=10"}, m.apps.LogQueries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestAppOfAnotherUser(t *testing.T) {
	m, env := appEnv(t)
	m.addApp("bob@example.com", "web")
	for _, args := range [][]string{
		{"app", "info", "web"},
		{"app", "logs", "web"},
		{"app", "env", "list", "-a", "web"},
		{"app", "delete", "web", "--yes"},
		{"app", "deploy", "web", "--from", srcTree(t, nil)},
	} {
		r := invocation{env: env}.run(t, args...)
		wantExit(t, r, exitNotFound)
		if want := "error: not found: no app \"web\"\nhint: see what exists with: gasper app list\n"; !strings.HasSuffix(r.stderr, want) {
			t.Errorf("gasper %v: stderr = %q, want it to end with %q", args, r.stderr, want)
		}
	}
	if m.apps.byName["web"] == nil {
		t.Error("ada deleted bob's app")
	}
}

func TestAppDeleteConfirmation(t *testing.T) {
	m, env := appEnv(t)
	m.addApp("ada@example.com", "web")
	tests := []struct {
		name    string
		inv     invocation
		args    []string
		code    int
		deleted bool
	}{
		{"no terminal, no --yes", invocation{}, nil, exitUsage, false},
		{"terminal, wrong name typed", invocation{stdin: "y\n", tty: true}, nil, exitError, false},
		{"terminal, name typed", invocation{stdin: "web\n", tty: true}, nil, 0, true},
		{"--yes", invocation{}, []string{"--yes"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.addApp("ada@example.com", "web")
			tt.inv.env = env
			r := tt.inv.run(t, append([]string{"app", "delete", "web"}, tt.args...)...)
			wantExit(t, r, tt.code)
			m.mu.Lock()
			gone := m.apps.byName["web"] == nil
			m.mu.Unlock()
			if gone != tt.deleted {
				t.Errorf("deleted = %v, want %v (stderr %q)", gone, tt.deleted, r.stderr)
			}
		})
	}
}

func TestAppInvalidNameSendsNothing(t *testing.T) {
	env := newEnv(t)
	env[envMaster], env[envToken] = deadURL(t), "gsp_x"
	for _, args := range [][]string{
		{"app", "info", "My_App"},
		{"app", "create", "--app=-bad", "--from", "."},
		{"app", "deploy", "web-", "--from", "."},
		{"app", "logs", "-a", strings.Repeat("a", 64)},
	} {
		r := invocation{env: env}.run(t, args...)
		wantExit(t, r, exitUsage) // not 6: nothing was sent to the dead master
		if !strings.Contains(r.stderr, "error: invalid app name") {
			t.Errorf("gasper %v: stderr = %q", args, r.stderr)
		}
	}
	r := invocation{env: env}.run(t, "app", "info", "My_App")
	if !strings.Contains(r.stderr, `hint: did you mean "my-app"?`) {
		t.Errorf("stderr = %q, want a suggestion", r.stderr)
	}
}

func TestAppListInfoReleases(t *testing.T) {
	m, env := appEnv(t)
	r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil), "--memory", "1G")
	wantExit(t, r, 0)
	r = invocation{env: env}.run(t, "app", "env", "set", "web", "A=1")
	wantExit(t, r, 0)
	m.addApp("ada@example.com", "idle")
	m.addApp("bob@example.com", "secret")

	r = invocation{env: env}.run(t, "app", "list")
	wantExit(t, r, 0)
	want := "" +
		"NAME   STATUS    RELEASE   RUNTIME   REPLICAS   INSTANCES   ADDRESS                  UPDATED\n" +
		"idle   created   -         auto      0/1        0/0         -                        1m ago\n" +
		"web    running   2         auto      1/1        1/1         http://127.0.0.2:30001   1m ago\n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}

	r = invocation{env: env}.run(t, "app", "releases", "web")
	wantExit(t, r, 0)
	want = "" +
		"NUMBER   STATUS   CAUSE    CREATED    BUILD-TIME   CURRENT\n" +
		"2        ready    env      just now   -            *\n" +
		"1        ready    deploy   just now   1.5s         \n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("releases (-want +got):\n%s", diff)
	}

	r = invocation{env: env}.run(t, "app", "info", "web")
	wantExit(t, r, 0)
	for _, w := range []string{"Status:         running\n", "Memory:         1.0 GiB\n", "Environment:    A\n",
		"Address:        http://127.0.0.2:30001\n", "i2   alpha   127.0.0.2:30001   2         healthy"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("info does not contain %q:\n%s", w, r.stdout)
		}
	}

	r = invocation{env: env}.run(t, "app", "rollback", "web", "1")
	wantExit(t, r, 0)
	if r.stdout != "http://127.0.0.2:30001\n" || !strings.Contains(r.stderr, "Release 3 of web: rollback to 1") {
		t.Errorf("rollback: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if diff := cmp.Diff([]api.RollbackRequest{{Release: 1}}, m.apps.Rollbacks); diff != "" {
		t.Errorf("rollback requests (-want +got):\n%s", diff)
	}

	r = invocation{env: env}.run(t, "app", "rebuild", "web")
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "==> build succeeded") || r.stdout != "http://127.0.0.2:30001\n" {
		t.Errorf("rebuild: stdout %q stderr %q", r.stdout, r.stderr)
	}

	r = invocation{env: env}.run(t, "app", "restart", "web")
	wantExit(t, r, 0)
	if m.apps.Restarts != 1 {
		t.Errorf("restarts = %d, want 1", m.apps.Restarts)
	}

	r = invocation{env: env}.run(t, "app", "restart", "web", "--wait")
	wantExit(t, r, 0)
	if m.apps.Restarts != 2 || r.stdout != "http://127.0.0.2:30001\n" || !strings.Contains(r.stderr, "Restarted web: 1 fresh instances") {
		t.Errorf("restart --wait: restarts %d, stdout %q, stderr %q", m.apps.Restarts, r.stdout, r.stderr)
	}
	r = invocation{env: env}.run(t, "app", "restart", "web", "--json")
	wantExit(t, r, exitUsage)
}

// TestAppBuildLogWithoutVerdict checks that a build log cut short does not
// decide the outcome: the release's status does.
func TestAppBuildLogWithoutVerdict(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		m, env := appEnv(t)
		m.apps.NoVerdict = true
		r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil))
		wantExit(t, r, 0)
		if r.stdout != "http://127.0.0.2:30001\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
	})
	t.Run("failed", func(t *testing.T) {
		m, env := appEnv(t)
		m.apps.NoVerdict, m.apps.BuildFail = true, "out of disk"
		r := invocation{env: env}.run(t, "app", "create", "web", "--from", srcTree(t, nil))
		wantExit(t, r, exitError)
		if !strings.Contains(r.stderr, "error: the build of release 1 of web failed: out of disk\n") {
			t.Errorf("stderr = %q", r.stderr)
		}
	})
}
