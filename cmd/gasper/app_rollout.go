package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gasper/api"
	"gasper/api/client"
	"gasper/cmd/gasper/internal/sourcearchive"
)

// defaultWaitTimeout is how long create and deploy wait, after the build,
// for the app to run.
const defaultWaitTimeout = 5 * time.Minute

// Last lines of a finished build log, as the master writes them.
const (
	buildSucceededPrefix = "==> build succeeded"
	buildFailedPrefix    = "==> build failed"
	// buildPendingPrefix: no node has room for the app yet.
	buildPendingPrefix = "==> pending"
)

// packedSource is a source archive written to a temporary file, so that its
// size is known before the upload and it is never held in memory.
type packedSource struct {
	*os.File
	sourcearchive.Summary
}

// close closes and removes the temporary file.
func (p *packedSource) close() {
	p.File.Close()
	os.Remove(p.File.Name())
}

// packSource packs dir and reports its size and file count on stderr.
func packSource(g *globalOptions, dir string) (*packedSource, error) {
	f, err := os.CreateTemp("", "gasper-source-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("create the source archive: %w", err)
	}
	p := &packedSource{File: f}
	s, err := sourcearchive.Write(f, dir, sourcearchive.MaxSize)
	if err != nil {
		p.close()
		var tl *sourcearchive.TooLargeError
		var le *sourcearchive.LinkError
		switch {
		case errors.As(err, &tl):
			return nil, withHint(fmt.Errorf("pack %s: %w", dir, err),
				"leave out what the build does not need (dependencies, build output, data) with a .gasperignore file, as .gitignore patterns")
		case errors.As(err, &le):
			return nil, withHint(fmt.Errorf("pack %s: %w", dir, err),
				"replace the link by a copy, or leave it out with a .gasperignore file")
		}
		return nil, fmt.Errorf("pack %s: %w", dir, err)
	}
	p.Summary = s
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		p.close()
		return nil, fmt.Errorf("rewind the source archive: %w", err)
	}
	files := "files"
	if s.Files == 1 {
		files = "file"
	}
	fmt.Fprintf(g.io.ErrOut, "Packed %s: %d %s, %s (sha256 %.12s)\n", dir, s.Files+s.Symlinks, files, humanBytes(uint64(s.Size)), s.SHA256)
	if len(s.Skipped) > 0 {
		fmt.Fprintf(g.io.ErrOut, "Left out %d special files (sockets, pipes, devices): %s\n", len(s.Skipped), strings.Join(s.Skipped, ", "))
	}
	return p, nil
}

// rollout is what create, deploy, rebuild and rollback do once the master
// has a new release: follow its build, wait for the app to run it, print
// the address.
type rollout struct {
	g       *globalOptions
	c       *client.Client
	app     string
	release int
	// build says whether the release builds (else it reuses an image).
	build       bool
	noWait      bool
	waitTimeout time.Duration
	json        bool
}

// run follows and waits as asked.
func (r *rollout) run(ctx context.Context) error {
	errOut := r.g.io.ErrOut
	if r.noWait {
		fmt.Fprintf(errOut, "Release %d of %s is on its way; follow it with: gasper app info %s\n", r.release, r.app, r.app)
		return nil
	}
	if r.build && r.release > 0 {
		if err := r.followBuild(ctx); err != nil {
			return err
		}
	}
	a, err := r.waitRunning(ctx)
	if err != nil {
		return err
	}
	if r.json {
		return printJSON(r.g.io.Out, a)
	}
	if a.Address == "" {
		fmt.Fprintf(errOut, "%s is running release %d, without an address yet; see: gasper app info %s\n", a.Name, a.Release, a.Name)
		return nil
	}
	for _, u := range a.URLs {
		fmt.Fprintf(errOut, "Through the proxies: %s\n", u)
	}
	fmt.Fprintf(errOut, "%s is running release %d, directly at:\n", a.Name, a.Release)
	_, err = fmt.Fprintf(r.g.io.Out, "http://%s\n", a.Address)
	return err
}

// followBuild prints the release's build log to stderr as it comes and
// returns an error when the build fails. A stream that ends without the
// build's verdict (a master restart, a proxy timeout) is picked up again,
// skipping the lines already shown.
func (r *rollout) followBuild(ctx context.Context) error {
	p := newProgress(r.g.io.ErrOut, r.g.io.IsStderrTTY(), r.g.now)
	defer p.close()
	p.setStep(fmt.Sprintf("Building release %d of %s", r.release, r.app))
	shown := 0
	for {
		verdict, n, err := r.streamBuildLog(ctx, p, shown)
		shown += n
		switch {
		case ctx.Err() != nil:
			return r.interrupted("the build goes on")
		case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
			return err
		case strings.HasPrefix(verdict, buildSucceededPrefix):
			return nil
		case strings.HasPrefix(verdict, buildFailedPrefix):
			return r.buildFailed(strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(verdict, buildFailedPrefix), ":")))
		case strings.HasPrefix(verdict, buildPendingPrefix):
			why := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(verdict, buildPendingPrefix), ":"))
			return withHint(fmt.Errorf("%s is pending: %s", r.app, why),
				"see how it stands with gasper app info "+r.app+"; lower its memory with gasper app update "+r.app+" --memory SIZE, or add a node")
		}
		// No verdict: ask the master how the build stands.
		rel, err := r.c.Release(ctx, r.app, r.release)
		if err != nil {
			return err
		}
		switch rel.Status {
		case api.ReleaseReady:
			return nil
		case api.ReleaseFailed:
			return r.buildFailed(rel.Error)
		}
		select {
		case <-ctx.Done():
			return r.interrupted("the build goes on")
		case <-time.After(time.Second): // do not spin on a master that closes at once
		}
	}
}

// streamBuildLog prints the build log from its line skip on and returns
// its last line if it is the build's verdict, and how many lines it printed.
func (r *rollout) streamBuildLog(ctx context.Context, p *progress, skip int) (verdict string, printed int, err error) {
	rc, err := r.c.BuildLog(ctx, r.app, r.release, true)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	seen := 0
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(line, "\r\n")
			seen++
			if seen > skip {
				p.line(line)
				printed++
			}
			if strings.HasPrefix(line, buildSucceededPrefix) || strings.HasPrefix(line, buildFailedPrefix) || strings.HasPrefix(line, buildPendingPrefix) {
				return line, printed, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return "", printed, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return "", printed, ctx.Err()
			}
			return "", printed, io.ErrUnexpectedEOF
		}
	}
}

func (r *rollout) buildFailed(reason string) error {
	if reason == "" {
		reason = "see the log above"
	}
	return withHint(fmt.Errorf("the build of release %d of %s failed: %s", r.release, r.app, reason),
		fmt.Sprintf("see the releases with: gasper app releases %s, and the app's logs with: gasper app logs %s", r.app, r.app))
}

func (r *rollout) interrupted(what string) error {
	return withHint(fmt.Errorf("stopped waiting for %s; %s on the master", r.app, what),
		"see how it stands with: gasper app info "+r.app)
}

// failing are the statuses after which waiting is pointless.
var failing = map[string]bool{api.AppFailed: true, api.AppCrashLoop: true, api.AppOOM: true}

// waitRunning polls the app until it runs the release (or a later one), or
// it or an instance of the release fails, or the wait times out.
func (r *rollout) waitRunning(ctx context.Context) (*api.App, error) {
	ctx, cancel := context.WithTimeout(ctx, r.waitTimeout)
	defer cancel()
	p := newProgress(r.g.io.ErrOut, r.g.io.IsStderrTTY(), r.g.now)
	defer p.close()
	every := r.g.pollInterval
	if every <= 0 {
		every = time.Second
	}
	var last *api.App
	for {
		a, err := r.c.App(ctx, r.app)
		switch {
		case err == nil:
			last = a
			if a.Status == api.AppRunning && a.Release >= r.release {
				return a, nil
			}
			if bad := failingInstances(a, r.release); (failing[a.Status] && a.Release >= r.release) || len(bad) > 0 {
				p.close()
				return nil, r.appFailed(a, bad)
			}
			step := fmt.Sprintf("Waiting for %s to run release %d: %s", a.Name, r.release, a.Status)
			if a.StatusReason != "" {
				step += " (" + a.StatusReason + ")"
			}
			p.setStep(step)
		case ctx.Err() == nil:
			return nil, err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && last != nil {
				return nil, withHint(fmt.Errorf("%s does not run release %d after %s: it is %s (release %d)",
					r.app, r.release, r.waitTimeout, describeStatus(last), last.Release),
					"see how it stands with: gasper app info "+r.app+", and its logs with: gasper app logs "+r.app)
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s does not run release %d after %s", r.app, r.release, r.waitTimeout)
			}
			return nil, r.interrupted("the rollout goes on")
		case <-time.After(every):
		}
	}
}

// failingInstances are the instances of release n (or later) that crash or
// were killed for memory.
func failingInstances(a *api.App, n int) []api.Instance {
	var bad []api.Instance
	for _, in := range a.Instances {
		if in.Release >= n && (in.State == api.AppCrashLoop || in.State == api.AppOOM || in.OOMKilled) {
			bad = append(bad, in)
		}
	}
	return bad
}

// appFailed shows why the app does not run, with the failing instances'
// last lines, and returns the error to exit with.
func (r *rollout) appFailed(a *api.App, bad []api.Instance) error {
	errOut := r.g.io.ErrOut
	for _, in := range bad {
		fmt.Fprintf(errOut, "Instance %s on %s: %s\n", in.ID, nodeLabel(in), describeInstance(in))
		if in.LastLog != "" {
			fmt.Fprintf(errOut, "Its last lines:\n%s\n", indent(in.LastLog, "  "))
		}
	}
	return withHint(fmt.Errorf("%s does not run release %d: it is %s", a.Name, r.release, describeStatus(a)),
		fmt.Sprintf("see its logs with: gasper app logs %s, and its releases with: gasper app releases %s", a.Name, a.Name))
}

// describeStatus is an app's status with its reason.
func describeStatus(a *api.App) string {
	if a.StatusReason != "" {
		return a.Status + " (" + a.StatusReason + ")"
	}
	return a.Status
}

// describeInstance is an instance's state with how it ended.
func describeInstance(in api.Instance) string {
	s := in.State
	var more []string
	if in.Restarts > 0 {
		more = append(more, fmt.Sprintf("%d restarts", in.Restarts))
	}
	if in.ExitCode != 0 {
		more = append(more, fmt.Sprintf("exit code %d", in.ExitCode))
	}
	if in.OOMKilled {
		more = append(more, "killed for exceeding its memory limit")
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

// nodeLabel names an instance's node for people.
func nodeLabel(in api.Instance) string {
	if in.NodeName != "" {
		return in.NodeName
	}
	if in.Node != "" {
		return in.Node
	}
	return "-"
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
