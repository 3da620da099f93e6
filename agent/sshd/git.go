package sshd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	gossh "golang.org/x/crypto/ssh"

	"gasper/proto"
)

// preReceive is the hook every push runs before git updates any branch. It
// hands the tree pushed to the deploy branch to the ssh role (through
// fifos in GASPER_HOOK_DIR), prints the build log the role sends back and
// refuses the push when the build failed, so the branch only ever points
// at a commit that built.
const preReceive = `#!/bin/sh
# Written by gasper's ssh role for one push.
deploy=
while read -r old new ref; do
	[ "$ref" = "refs/heads/$GASPER_BRANCH" ] || continue
	case "$new" in
	*[!0]*) deploy=$new ;;
	*) echo "gasper: $GASPER_BRANCH deploys the app: it cannot be deleted" >&2; exit 1 ;;
	esac
done
if [ -z "$deploy" ]; then
	echo "gasper: stored, not deployed: only a push to $GASPER_BRANCH deploys"
	exit 0
fi
git archive --format=tar.gz -o "$GASPER_HOOK_DIR/source.tar.gz" "$deploy" || exit 1
echo go >"$GASPER_HOOK_DIR/ready"
cat "$GASPER_HOOK_DIR/log"
exit "$(cat "$GASPER_HOOK_DIR/status" 2>/dev/null || echo 1)"
`

// gitPush runs git receive-pack for a push to an app's repository on this
// node, deploying the deploy branch's tree through the master, and returns
// receive-pack's exit status.
func (s *Server) gitPush(ctx context.Context, ch gossh.Channel, sess proto.SSHSession, app string, log *slog.Logger) int {
	fail := func(err error) int {
		log.Error("git push failed", "err", err)
		fmt.Fprintf(ch.Stderr(), "gasper: %s\n", err)
		return 1
	}
	// app was checked as an app name by the master: it is a safe path element.
	repo := filepath.Join(s.cfg.StateDir, "repos", sess.App+".git")
	if _, err := os.Stat(repo); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(repo), 0o700); err != nil {
			return fail(err)
		}
		if out, err := gitCmd("", "init", "-q", "--bare", repo).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("create the repository: %v: %s", err, out))
		}
		gitCmd(repo, "symbolic-ref", "HEAD", "refs/heads/"+sess.PushBranch).Run()
	}
	hooks, err := os.MkdirTemp(filepath.Join(s.cfg.StateDir, "repos"), ".push-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(hooks)
	if err := os.WriteFile(filepath.Join(hooks, "pre-receive"), []byte(preReceive), 0o700); err != nil {
		return fail(err)
	}
	for _, f := range []string{"ready", "log"} {
		if err := syscall.Mkfifo(filepath.Join(hooks, f), 0o600); err != nil {
			return fail(err)
		}
	}

	cmd := gitCmd("", "-c", "core.hooksPath="+hooks, "receive-pack", repo)
	cmd.Env = append(cmd.Env, "GASPER_HOOK_DIR="+hooks, "GASPER_BRANCH="+sess.PushBranch)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	// Copied by hand: exec would wait for this copy, and the client keeps
	// its side open until receive-pack has answered.
	go func() { io.Copy(stdin, ch); stdin.Close() }()
	pushCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.deployWhenReady(pushCtx, hooks, sess, log) }()
	err = cmd.Wait()
	cancel()
	wg.Wait()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return fail(err)
	}
	return 0
}

// gitCmd is git with nothing of the host's git configuration.
func gitCmd(dir string, args ...string) *exec.Cmd {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("git", args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	return cmd
}

// deployWhenReady waits for the hook to hand over the pushed tree, deploys
// it through the master and feeds the build log and the verdict back to
// the hook. It gives up when ctx ends (receive-pack is done).
func (s *Server) deployWhenReady(ctx context.Context, hooks string, sess proto.SSHSession, log *slog.Logger) {
	// Opened read-write, the fifos never block on open; closing them when
	// ctx ends unblocks the reads and writes below.
	ready, err := os.OpenFile(filepath.Join(hooks, "ready"), os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer ready.Close()
	logf, err := os.OpenFile(filepath.Join(hooks, "log"), os.O_RDWR, 0)
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { ready.Close(); logf.Close() })
	defer stop()
	if _, err := bufio.NewReader(ready).ReadString('\n'); err != nil {
		return // nothing to deploy
	}
	ok := false
	defer func() {
		status := "1"
		if ok {
			status = "0"
		}
		os.WriteFile(filepath.Join(hooks, "status"), []byte(status+"\n"), 0o600)
		logf.Close() // the hook's cat sees the end, reads the status and exits
	}()
	src, err := os.Open(filepath.Join(hooks, "source.tar.gz"))
	if err != nil {
		fmt.Fprintf(logf, "gasper: %s\n", err)
		return
	}
	defer src.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://master"+strings.Replace(proto.PathSSHSessionDeploy, "{id}", sess.ID, 1), src)
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/gzip")
	if fi, err := src.Stat(); err == nil {
		req.ContentLength = fi.Size()
	}
	resp, err := s.cfg.Master().Do(req)
	if err != nil {
		fmt.Fprintf(logf, "gasper: the master is unreachable: %s\n", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(logf, "gasper: deploy refused: %s\n", strings.TrimSpace(string(b)))
		return
	}
	if _, err := io.Copy(logf, resp.Body); err != nil {
		fmt.Fprintf(logf, "gasper: the build log broke off: %s\n", err)
		return
	}
	var res proto.SSHDeployResult
	if err := json.Unmarshal([]byte(resp.Trailer.Get(proto.TrailerDeployResult)), &res); err != nil {
		fmt.Fprintln(logf, "gasper: the master sent no result (did it restart?)")
		return
	}
	if !res.OK {
		fmt.Fprintf(logf, "gasper: push refused: %s\n", res.Error)
		log.Info("push deploy failed", "release", res.Release, "err", res.Error)
		return
	}
	fmt.Fprintf(logf, "gasper: release %d of %s built: rolling out\n", res.Release, sess.App)
	log.Info("push deployed", "release", res.Release)
	ok = true
}
