package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gasper/api"
)

// fakeApps is the fake master's app state and the knobs tests turn; the
// routes follow the app routes of the REST API (apps, source, releases,
// build logs, env, logs). Builds finish the moment they start: the build
// log is complete when first read.
type fakeApps struct {
	byName map[string]*fakeApp

	// BuildLines are the lines every build writes before its verdict.
	BuildLines []string
	// BuildFail, when set, makes builds fail with this reason.
	BuildFail string
	// NoVerdict leaves the verdict line out of build logs, as a stream cut
	// short would.
	NoVerdict bool
	// RunStatus is the app's status after a successful build (default
	// running); RunInstances its instances then.
	RunStatus    string
	RunInstances []api.Instance
	// LogLines are what GET .../logs answers; with follow=1 the stream then
	// stays open until LogsHold is closed or the client goes away.
	LogLines []string
	LogsHold chan struct{}

	// What the master received.
	Creates     []api.CreateAppRequest
	Uploads     []fakeUpload
	EnvRequests []api.EnvRequest
	LogQueries  []string
	Rollbacks   []api.RollbackRequest
	Restarts    int
}

type fakeUpload struct {
	ContentType string
	Body        []byte
}

type fakeApp struct {
	api.App
	ownerID  string
	env      map[string]string
	releases []api.Release // oldest first
	logs     map[int][]string
}

func (m *fakeMaster) appRoutes(mux *http.ServeMux) {
	m.apps.byName = map[string]*fakeApp{}
	mux.HandleFunc("GET /api/v1/apps", m.authed(false, func(w http.ResponseWriter, r *http.Request, u *fakeUser) {
		out := []api.App{}
		for _, a := range m.apps.byName {
			if a.ownerID == u.ID || u.Admin {
				out = append(out, a.App)
			}
		}
		slices.SortFunc(out, func(a, b api.App) int { return strings.Compare(a.Name, b.Name) })
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("POST /api/v1/apps", m.authed(false, func(w http.ResponseWriter, r *http.Request, u *fakeUser) {
		var req api.CreateAppRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
			writeErr(w, api.Errorf(api.CodeBadRequest, "bad app"))
			return
		}
		m.apps.Creates = append(m.apps.Creates, req)
		if m.apps.byName[req.Name] != nil {
			writeErr(w, api.Errorf(api.CodeConflict, "app %q exists", req.Name))
			return
		}
		a := m.addAppLocked(req.Name, u)
		a.Config = req.AppConfig
		for k, v := range req.Env {
			a.env[k] = v
		}
		a.EnvNames = sortedKeys(a.env)
		if req.Git != nil {
			g := *req.Git
			g.HasToken, g.Token = g.Token != "", ""
			a.Git = &g
			m.buildLocked(a, "git")
		}
		writeJSON(w, 201, a.App)
	}))
	mux.HandleFunc("POST /api/v1/apps/{app}/scale", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		var req api.ScaleRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Replicas < 0 || req.Replicas > 100 {
			writeErr(w, api.Errorf(api.CodeBadRequest, "replicas out of range"))
			return
		}
		a.Replicas = req.Replicas
		a.Instances = a.Instances[:0]
		for i := range req.Replicas {
			a.Instances = append(a.Instances, api.Instance{ID: fmt.Sprintf("i%d-%d", a.Release, i+1), Node: fmt.Sprintf("n%d", i+1),
				NodeName: fmt.Sprintf("node%d", i+1), Address: fmt.Sprintf("127.0.0.%d:30001", i+2), Release: a.Release, State: "healthy"})
		}
		a.Running = req.Replicas
		writeJSON(w, 200, a.App)
	}))
	mux.HandleFunc("GET /api/v1/apps/{app}", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		writeJSON(w, 200, a.App)
	}))
	mux.HandleFunc("DELETE /api/v1/apps/{app}", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		delete(m.apps.byName, a.Name)
		w.WriteHeader(204)
	}))
	mux.HandleFunc("POST /api/v1/apps/{app}/source", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			writeErr(w, api.Errorf(api.CodeBadRequest, "read body: %v", err))
			return
		}
		m.apps.Uploads = append(m.apps.Uploads, fakeUpload{ContentType: r.Header.Get("Content-Type"), Body: b})
		writeJSON(w, 202, m.buildLocked(a, "deploy"))
	}))
	mux.HandleFunc("POST /api/v1/apps/{app}/rebuild", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		writeJSON(w, 202, m.buildLocked(a, "rebuild"))
	}))
	mux.HandleFunc("GET /api/v1/apps/{app}/releases", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		out := slices.Clone(a.releases)
		slices.Reverse(out)
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("GET /api/v1/apps/{app}/releases/{n}", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		if rel := a.release(r.PathValue("n")); rel != nil {
			writeJSON(w, 200, rel)
			return
		}
		writeErr(w, api.Errorf(api.CodeNotFound, "no release %s of %s", r.PathValue("n"), a.Name))
	}))
	mux.HandleFunc("GET /api/v1/apps/{app}/releases/{n}/log", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		rel := a.release(r.PathValue("n"))
		if rel == nil {
			writeErr(w, api.Errorf(api.CodeNotFound, "no release %s of %s", r.PathValue("n"), a.Name))
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		for _, l := range a.logs[rel.Number] {
			fmt.Fprintln(w, l)
		}
	}))
	mux.HandleFunc("POST /api/v1/apps/{app}/rollback", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		var req api.RollbackRequest
		json.NewDecoder(r.Body).Decode(&req)
		m.apps.Rollbacks = append(m.apps.Rollbacks, req)
		to := req.Release
		if to == 0 {
			to = a.Release - 1
		}
		if a.release(strconv.Itoa(to)) == nil {
			writeErr(w, api.Errorf(api.CodeNotFound, "no release %d of %s", to, a.Name))
			return
		}
		writeJSON(w, 202, m.newReleaseLocked(a, fmt.Sprintf("rollback to %d", to)))
	}))
	mux.HandleFunc("POST /api/v1/apps/{app}/restart", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		m.apps.Restarts++
		for i := range a.Instances { // fresh instances, as the master's are
			a.Instances[i].ID += "r"
		}
		w.WriteHeader(204)
	}))
	mux.HandleFunc("GET /api/v1/apps/{app}/env", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		writeJSON(w, 200, a.env)
	}))
	mux.HandleFunc("PATCH /api/v1/apps/{app}/env", m.withApp(func(w http.ResponseWriter, r *http.Request, a *fakeApp) {
		var req api.EnvRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, api.Errorf(api.CodeBadRequest, "bad body"))
			return
		}
		m.apps.EnvRequests = append(m.apps.EnvRequests, req)
		for k, v := range req.Set {
			a.env[k] = v
		}
		for _, k := range req.Unset {
			delete(a.env, k)
		}
		a.EnvNames = sortedKeys(a.env)
		writeJSON(w, 202, m.newReleaseLocked(a, "env"))
	}))
	// Logs stream outside the lock, which a held stream must not keep.
	mux.HandleFunc("GET /api/v1/apps/{app}/logs", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		a, errBody := m.appForLocked(r)
		lines, hold := m.apps.LogLines, m.apps.LogsHold
		m.apps.LogQueries = append(m.apps.LogQueries, r.URL.RawQuery)
		m.mu.Unlock()
		if a == nil {
			writeErr(w, errBody)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		for _, l := range lines {
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
		if r.URL.Query().Get("follow") == "1" && hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
	})
}

// withApp authenticates the caller and finds the {app} they may see, as
// the master does: another user's app is not found.
func (m *fakeMaster) withApp(h func(http.ResponseWriter, *http.Request, *fakeApp)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		a, e := m.appForLocked(r)
		if a == nil {
			writeErr(w, e)
			return
		}
		h(w, r, a)
	}
}

func (m *fakeMaster) appForLocked(r *http.Request) (*fakeApp, *api.Error) {
	u := m.callerLocked(r)
	if u == nil {
		return nil, api.Errorf(api.CodeUnauthorized, "invalid or expired token")
	}
	a := m.apps.byName[r.PathValue("app")]
	if a == nil || (a.ownerID != u.ID && !u.Admin) {
		return nil, api.Errorf(api.CodeNotFound, "no app %q", r.PathValue("app"))
	}
	return a, nil
}

// addApp gives the user with email an app, for tests to start from.
func (m *fakeMaster) addApp(email, name string) *fakeApp {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addAppLocked(name, m.userLocked(email))
}

func (m *fakeMaster) addAppLocked(name string, owner *fakeUser) *fakeApp {
	a := &fakeApp{App: api.App{Name: name, Owner: owner.Email, Status: api.AppCreated, EnvNames: []string{}, Instances: []api.Instance{}, Replicas: 1,
		CreatedAt: testNow.Add(-time.Hour), UpdatedAt: testNow.Add(-time.Minute)},
		ownerID: owner.ID, env: map[string]string{}, logs: map[int][]string{}}
	m.apps.byName[name] = a
	return a
}

// buildLocked makes a release that builds at once, as the knobs say, and
// moves the app to it when the build succeeds.
func (m *fakeMaster) buildLocked(a *fakeApp, cause string) api.Release {
	n := len(a.releases) + 1
	rel := api.Release{App: a.Name, Number: n, Status: api.ReleaseBuilding, Runtime: "static", Cause: cause, CreatedAt: testNow}
	a.releases = append(a.releases, rel)
	log := slices.Clone(m.apps.BuildLines)
	stored := &a.releases[n-1]
	if m.apps.BuildFail != "" {
		log = append(log, "==> build failed: "+m.apps.BuildFail)
		stored.Status, stored.Error = api.ReleaseFailed, m.apps.BuildFail
		if a.Release == 0 {
			a.Status, a.StatusReason = api.AppFailed, "the build failed"
		}
	} else {
		log = append(log, "==> build succeeded in 1.5s")
		stored.Status, stored.BuildTime = api.ReleaseReady, "1.5s"
		m.runLocked(a, n)
	}
	if m.apps.NoVerdict {
		log = log[:len(log)-1]
	}
	a.logs[n] = log
	return rel // as the master answers: still building
}

// newReleaseLocked makes a release from the current image (env, rollback)
// and runs it.
func (m *fakeMaster) newReleaseLocked(a *fakeApp, cause string) api.Release {
	n := len(a.releases) + 1
	a.releases = append(a.releases, api.Release{App: a.Name, Number: n, Status: api.ReleaseReady, Cause: cause, CreatedAt: testNow})
	m.runLocked(a, n)
	return a.releases[n-1]
}

func (m *fakeMaster) runLocked(a *fakeApp, n int) {
	for i := range a.releases {
		a.releases[i].Current = a.releases[i].Number == n
	}
	a.Release, a.Status, a.StatusReason = n, or(m.apps.RunStatus, api.AppRunning), ""
	a.Instances = []api.Instance{{ID: "i" + strconv.Itoa(n), Node: "n1", NodeName: "alpha", Address: "127.0.0.2:30001",
		Release: n, State: "healthy"}}
	if m.apps.RunInstances != nil {
		a.Instances = slices.Clone(m.apps.RunInstances)
	}
	a.Address, a.Running = "", 0
	for _, in := range a.Instances {
		if in.State == "healthy" {
			a.Running++
		}
	}
	if a.Status == api.AppRunning {
		a.Address = "127.0.0.2:30001"
	}
}

func (a *fakeApp) release(n string) *api.Release {
	for i := range a.releases {
		if strconv.Itoa(a.releases[i].Number) == n {
			return &a.releases[i]
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	ks := []string{}
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
