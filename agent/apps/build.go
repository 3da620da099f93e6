package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gasper/internal/archive"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/proto"
	"gasper/runtimes"
)

// hostCABundle is mounted read-only into build containers, so builds that
// download (npm, Go modules) trust what the host trusts, without baking the
// host's certificates into any image.
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// handleBuild builds a release. The build log streams in the response
// body; the outcome is a JSON proto.BuildResult in a trailer.
func (m *Manager) handleBuild(w http.ResponseWriter, r *http.Request) {
	var req proto.BuildRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "invalid build request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Trailer", proto.TrailerBuildResult)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w}
	start := time.Now()
	res, err := m.build(r.Context(), req, out)
	res.Duration = time.Since(start)
	if err != nil {
		res.OK, res.Error = false, err.Error()
	} else {
		res.OK = true
	}
	b, _ := json.Marshal(res)
	w.Header().Set(proto.TrailerBuildResult, string(b))
}

// flushWriter flushes after every write so the log streams, and is safe
// for the concurrent writers a build has (image build, container log).
type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func (m *Manager) build(ctx context.Context, req proto.BuildRequest, out io.Writer) (proto.BuildResult, error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	done, err := m.buildSlot(ctx, req.Image, say)
	if err != nil {
		return proto.BuildResult{}, err
	}
	defer done()

	work, err := os.MkdirTemp(filepath.Join(m.cfg.StateDir), "build-")
	if err != nil {
		return proto.BuildResult{}, err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "app")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return proto.BuildResult{}, err
	}
	say("fetching source %s", short(req.Source))
	if err := m.fetchSource(ctx, req.Source, dir); err != nil {
		return proto.BuildResult{}, err
	}

	var rt runtimes.Runtime
	if req.Runtime != "" {
		var ok bool
		if rt, ok = runtimes.Get(req.Runtime); !ok {
			return proto.BuildResult{}, fmt.Errorf("runtime %q is not known to this agent", req.Runtime)
		}
	} else if rt, err = runtimes.Detect(dir); err != nil {
		return proto.BuildResult{}, err
	}
	res := proto.BuildResult{Runtime: rt.Name, Port: rt.Port, StartCmd: runtimes.StartCommand(rt, dir), Image: req.Image}
	if req.Port != 0 {
		res.Port = req.Port
	}
	if req.StartCmd != "" {
		res.StartCmd = req.StartCmd
	}
	buildCmd := rt.BuildCmd
	if req.BuildCmd != "" {
		buildCmd = req.BuildCmd
	}
	say("runtime %s", rt.Name)

	base, err := m.cfg.Images.Ensure(ctx, rt.Recipe, out)
	if err != nil {
		return res, fmt.Errorf("runtime image %s: %w", rt.Name, err)
	}
	if buildCmd != "" {
		say("running build: %s", buildCmd)
		if err := m.runBuild(ctx, req, rt, base, buildCmd, dir, res.Port, out); err != nil {
			return res, err
		}
	}
	say("packing release image %s", req.Image)
	err = m.cfg.Images.AppendDir(ctx, base, dir, runtimes.AppDir, req.Image, image.ConfigChange{
		Env:     rt.Env,
		Cmd:     []string{"sh", "-c", res.StartCmd},
		WorkDir: runtimes.AppDir,
		Labels:  map[string]string{labelApp: req.App, labelRelease: strconv.Itoa(req.Release)},
	})
	if err != nil {
		return res, fmt.Errorf("pack the release image: %w", err)
	}
	m.mu.Lock()
	m.images[req.App] = appendUnique(m.images[req.App], req.Image)
	delete(m.dropped, req.App) // built to run here again: keep it
	m.save()
	m.mu.Unlock()
	return res, nil
}

// buildSlot waits until no other build of image runs here and fewer than
// Config.MaxBuilds builds run, and returns the function that ends the
// build's turn.
func (m *Manager) buildSlot(ctx context.Context, image string, say func(string, ...any)) (func(), error) {
	told := false
	for {
		m.mu.Lock()
		busy, ok := m.imgBusy[image]
		if !ok {
			busy = make(chan struct{})
			m.imgBusy[image] = busy
		}
		m.mu.Unlock()
		if !ok {
			release := func() {
				m.mu.Lock()
				delete(m.imgBusy, image)
				m.mu.Unlock()
				close(busy)
			}
			select {
			case m.builds <- struct{}{}:
			default:
				say("waiting for one of the %d builds on this node to finish", cap(m.builds))
				select {
				case m.builds <- struct{}{}:
				case <-ctx.Done():
					release()
					return nil, fmt.Errorf("waited for a build slot: %w", ctx.Err())
				}
			}
			return func() { <-m.builds; release() }, nil
		}
		if !told {
			say("waiting for another build of %s on this node to finish", image)
			told = true
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("waited for another build of %s: %w", image, ctx.Err())
		}
	}
}

func (m *Manager) runBuild(ctx context.Context, req proto.BuildRequest, rt runtimes.Runtime, base, cmd, dir string, port int, out io.Writer) error {
	id := "build-" + containerID(req.App, req.Release)
	if len(id) > 63 {
		id = strings.TrimRight(id[:63], "-")
	}
	env := append([]string{"PORT=" + strconv.Itoa(port)}, rt.Env...)
	env = append(env, req.Env...)
	mounts := []container.Mount{{Source: dir, Target: runtimes.AppDir}}
	if _, err := os.Stat(hostCABundle); err == nil {
		mounts = append(mounts, container.Mount{Source: hostCABundle, Target: hostCABundle, ReadOnly: true})
	}
	err := m.cfg.Driver.Create(ctx, container.Spec{
		ID: id, Image: base, Args: []string{"sh", "-c", cmd}, Env: env, WorkDir: runtimes.AppDir,
		Labels:      map[string]string{labelApp: req.App, labelBuild: strconv.Itoa(req.Release)},
		MemoryBytes: req.MemoryBytes, CPUs: req.CPUs, Mounts: mounts, Init: true,
	})
	if err != nil {
		return fmt.Errorf("create build container: %w", err)
	}
	// The build container goes whatever happens, even if ctx is done.
	defer m.cfg.Driver.Remove(context.WithoutCancel(ctx), id)
	if _, err := m.cfg.Driver.Start(ctx, id); err != nil {
		return fmt.Errorf("start build container: %w", err)
	}
	// containerd answers at once for a task that already exited, so a
	// build that ends before this call is not missed.
	exits, err := m.cfg.Driver.Wait(ctx, id)
	if err != nil {
		return fmt.Errorf("watch build container: %w", err)
	}
	logCtx, stopLogs := context.WithCancel(ctx)
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		rc, err := m.cfg.Driver.Logs(logCtx, id, container.LogOptions{Follow: true})
		if err != nil {
			return
		}
		defer rc.Close()
		io.Copy(out, rc)
	}()
	var ev container.ExitEvent
	select {
	case ev = <-exits:
	case <-ctx.Done():
		stopLogs()
		return fmt.Errorf("build stopped: %w", ctx.Err())
	}
	// Let the last lines reach the log before it is cut.
	time.Sleep(200 * time.Millisecond)
	stopLogs()
	<-logsDone
	if ev.Err != nil {
		return fmt.Errorf("build container: %w", ev.Err)
	}
	if ev.OOMKilled {
		return fmt.Errorf("the build ran out of memory (%d MiB): give the app more with --memory", req.MemoryBytes>>20)
	}
	if ev.ExitCode != 0 {
		return fmt.Errorf("build command exited with code %d", ev.ExitCode)
	}
	return nil
}

func (m *Manager) fetchSource(ctx context.Context, hash, dir string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://master"+strings.Replace(proto.PathSource, "{hash}", hash, 1), nil)
	if err != nil {
		return err
	}
	resp, err := m.cfg.Master().Do(req)
	if err != nil {
		return fmt.Errorf("fetch source from the master: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("fetch source from the master: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := archive.Extract(resp.Body, dir, archive.DefaultLimits); err != nil {
		return fmt.Errorf("unpack source: %w", err)
	}
	return nil
}

// handleLogs streams the logs of an app's newest instance.
func (m *Manager) handleLogs(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	cs, err := m.cfg.Driver.List(r.Context(), map[string]string{labelApp: app})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var newest *container.Status
	for i, c := range cs {
		if c.Labels[labelBuild] != "" {
			continue
		}
		if newest == nil || c.StartedAt.After(newest.StartedAt) {
			newest = &cs[i]
		}
	}
	if newest == nil {
		http.Error(w, "app "+app+" has no instance on this node", http.StatusNotFound)
		return
	}
	tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
	rc, err := m.cfg.Driver.Logs(r.Context(), newest.ID, container.LogOptions{Tail: tail, Follow: r.URL.Query().Get("follow") == "1"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.Copy(&flushWriter{w: w}, rc)
}

func short(hash string) string { return hash[:min(12, len(hash))] }

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
