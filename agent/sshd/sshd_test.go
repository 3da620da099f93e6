package sshd

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"gasper/proto"
)

func TestGitCommand(t *testing.T) {
	tests := []struct {
		command, app, verb string
		ok                 bool
	}{
		{"git-receive-pack '/web.git'", "web", "receive-pack", true},
		{"git-receive-pack 'web.git'", "web", "receive-pack", true},
		{"git receive-pack '/web.git'", "web", "receive-pack", true},
		{"git-receive-pack '~/web.git'", "web", "receive-pack", true},
		{"git-upload-pack '/web.git'", "web", "upload-pack", true},
		{"git-receive-pack '/a/b.git'", "", "receive-pack", true},
		{"git-receive-pack '/../x.git'", "", "receive-pack", true},
		{"git-receive-pack '/web'", "", "receive-pack", true},
		{"ls /app", "", "", false},
		{"git-frobnicate '/web.git'", "", "", false},
	}
	for _, tt := range tests {
		app, verb, ok := gitCommand(tt.command)
		if app != tt.app || verb != tt.verb || ok != tt.ok {
			t.Errorf("gitCommand(%q) = %q %q %v, want %q %q %v", tt.command, app, verb, ok, tt.app, tt.verb, tt.ok)
		}
	}
}

// stubMaster answers the ssh role's questions as the master would for one
// user who owns app "web", whose one instance runs on this node.
func stubMaster(t *testing.T, key gossh.PublicKey) func() *http.Client {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+proto.PathSSHAuth, func(w http.ResponseWriter, r *http.Request) {
		var req proto.SSHAuthRequest
		json.NewDecoder(r.Body).Decode(&req)
		if req.Login != "web" || req.PublicKey != strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key))) {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(proto.SSHIdentity{UserID: "u-1", User: "ann@example.com", Login: req.Login, Method: proto.SSHMethodPublicKey})
	})
	mux.HandleFunc("POST "+proto.PathSSHSessions, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(proto.SSHSession{ID: "s-1", App: "web", Node: "n-1", Container: "web-r1-abc"})
	})
	mux.HandleFunc("POST "+proto.PathSSHSessionEnd, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
	}}}
	return func() *http.Client { return hc }
}

// quietExec is a container that runs "echo": it answers a command with
// its text, and a shell with nothing at all until the stream closes.
func quietExec(_ context.Context, app, id string, stream io.ReadWriteCloser) {
	defer stream.Close()
	out := proto.NewFrameWriter(stream)
	typ, p, err := proto.ReadFrame(stream)
	if err != nil || typ != proto.FrameStart || app != "web" || id != "web-r1-abc" {
		return
	}
	var start proto.ExecStart
	json.Unmarshal(p, &start)
	if len(start.Args) == 3 {
		out.Write(proto.FrameStdout, []byte(strings.TrimPrefix(start.Args[2], "echo ")+"\n"))
		out.WriteJSON(proto.FrameExit, proto.ExecExit{Code: 0})
		return
	}
	for {
		if _, _, err := proto.ReadFrame(stream); err != nil {
			return
		}
	}
}

func TestIdleConnectionsClose(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ssh (openssh-client) is not installed")
		}
		t.Skip("ssh (openssh-client) is not installed")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pubBytes, _ := os.ReadFile(keyFile + ".pub")
	pub, _, _, _, err := gossh.ParseAuthorizedKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	s, err := New(Config{Addr: addr, StateDir: filepath.Join(dir, "state"), Master: stubMaster(t, pub),
		NodeID: func() string { return "n-1" }, Local: quietExec, IdleTimeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(100 * time.Millisecond)

	_, port, _ := net.SplitHostPort(addr)
	ssh := func(login string, command ...string) (string, int, time.Duration) {
		args := append([]string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", keyFile, "-p", port, login + "@127.0.0.1"}, command...)
		cmd := exec.Command("ssh", args...)
		start := time.Now()
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code, time.Since(start)
	}
	if out, code, _ := ssh("web", "echo hello"); code != 0 || out != "hello\n" {
		t.Fatalf("a command: exit %d %q", code, out)
	}
	if _, code, _ := ssh("other", "echo hello"); code != 255 {
		t.Fatalf("a login the master refuses: exit %d, want 255", code)
	}
	// A shell that prints nothing and gets nothing is cut after the idle time.
	_, code, took := ssh("web", "-tt")
	if code != 255 || took > 10*time.Second {
		t.Fatalf("an idle session: exit %d after %s, want it cut (255) after about 1s", code, took)
	}

	// The host key is kept: a second server has the same.
	again, err := New(Config{Addr: addr, StateDir: filepath.Join(dir, "state"), Master: stubMaster(t, pub), NodeID: func() string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if string(again.HostKey().Marshal()) != string(s.HostKey().Marshal()) {
		t.Error("the host key changed between two starts")
	}
	if fi, err := os.Stat(filepath.Join(dir, "state", hostKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("host key file: %v, %v; want mode 0600", fi, err)
	}
}
