package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"gasper/api"
	"gasper/master/auth"
	"gasper/master/store"
	"gasper/proto"
)

// session is an authorized SSH session, from its start to its end.
type session struct {
	id        string
	sshNode   string // the ssh role's node, the only one that may use it
	user      store.User
	app       string
	kind      string
	node      string // where its container runs
	container string
	started   time.Time
}

// sessionTTL bounds how long a session whose end never came (its ssh node
// died) is remembered.
const sessionTTL = 7 * 24 * time.Hour

// Register adds the routes the master serves to a node's agent; only nodes
// with the ssh role get answers.
func (s *Service) Register(mux *http.ServeMux, nodeID string) {
	mux.HandleFunc("POST "+proto.PathSSHAuth, s.sshOnly(nodeID, s.handleAuth))
	mux.HandleFunc("POST "+proto.PathSSHSessions, s.sshOnly(nodeID, s.handleSession))
	mux.HandleFunc("POST "+proto.PathSSHSessionExec, s.sshOnly(nodeID, s.handleRelay))
	mux.HandleFunc("POST "+proto.PathSSHSessionDeploy, s.sshOnly(nodeID, s.handleDeploy))
	mux.HandleFunc("POST "+proto.PathSSHSessionEnd, s.sshOnly(nodeID, s.handleEnd))
}

func (s *Service) sshOnly(nodeID string, h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, err := s.cfg.Nodes.Nodes(r.Context())
		ok := false
		for _, n := range ns {
			ok = ok || (n.ID == nodeID && slices.Contains(n.Roles, proto.RoleSSH))
		}
		if err != nil || !ok {
			http.Error(w, "this node does not have the ssh role", http.StatusForbidden)
			return
		}
		h(w, r, nodeID)
	}
}

// fail answers an agent with err's status and message.
func fail(w http.ResponseWriter, err error) {
	e := api.AsError(err)
	http.Error(w, e.Message, e.Status())
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(v); err != nil {
		http.Error(w, "invalid request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// parseLogin splits an SSH login into the app and instance number it
// names (0: the master chooses); "git" names no app.
func parseLogin(login string) (app string, n int, err error) {
	if login == proto.SSHLoginGit {
		return "", 0, nil
	}
	app, num, hasNum := strings.Cut(login, ".")
	if err := api.ValidName("app", app); err != nil {
		return "", 0, api.Errorf(api.CodeBadRequest, "log in as APP, APP.N or git, not %q", login)
	}
	if hasNum {
		if n, err = strconv.Atoi(num); err != nil || n < 1 || n > 1000 {
			return "", 0, api.Errorf(api.CodeBadRequest, "log in as APP, APP.N or git, not %q", login)
		}
	}
	return app, n, nil
}

// --- authentication ---

func (s *Service) handleAuth(w http.ResponseWriter, r *http.Request, _ string) {
	var req proto.SSHAuthRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id, err := s.authenticate(r.Context(), req)
	if err != nil {
		// The user learns only "Permission denied"; the reason is for the operator.
		s.log.Info("ssh login refused", "login", req.Login, "remote", req.Remote, "reason", err)
		fail(w, err)
		return
	}
	writeJSON(w, id)
}

func (s *Service) authenticate(ctx context.Context, req proto.SSHAuthRequest) (proto.SSHIdentity, error) {
	app, _, err := parseLogin(req.Login)
	if err != nil {
		return proto.SSHIdentity{}, err
	}
	id := proto.SSHIdentity{Login: req.Login}
	var user store.User
	switch {
	case req.PublicKey != "":
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
		if err != nil {
			return id, api.Errorf(api.CodeBadRequest, "unreadable public key")
		}
		id.Method, id.Fingerprint = proto.SSHMethodPublicKey, ssh.FingerprintSHA256(pub)
		k, err := s.cfg.Store.SSHKeyByFingerprint(ctx, id.Fingerprint)
		if err != nil {
			return id, denied(err, "key %s is not registered", id.Fingerprint)
		}
		if user, err = s.cfg.Store.User(ctx, k.UserID); err != nil {
			return id, denied(err, "the key's user is gone")
		}
		if err := s.cfg.Store.TouchSSHKey(ctx, k.ID, time.Now()); err != nil {
			s.log.Warn("record SSH key use", "key", k.ID, "err", err)
		}
	case req.Password != "":
		id.Method = proto.SSHMethodPassword
		if app == "" {
			return id, api.Errorf(api.CodeForbidden, "passwords are per app: log in as APP@, not git@")
		}
		if user, err = s.checkPassword(ctx, app, req.Password); err != nil {
			return id, err
		}
	default:
		return id, api.Errorf(api.CodeBadRequest, "neither a key nor a password")
	}
	if app != "" {
		// A login naming an app the user may not enter fails here, before
		// any session: the client sees no more than a refused login.
		if _, err := s.cfg.Apps.Get(ctx, user, app); err != nil {
			return id, denied(err, "user %s may not enter app %s", user.Email, app)
		}
	}
	id.UserID, id.User = user.ID, user.Email
	return id, nil
}

// denied turns a lookup failure into a refusal, keeping internal errors.
func denied(err error, format string, args ...any) error {
	if errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrForbidden) {
		return api.Errorf(api.CodeForbidden, format, args...)
	}
	return err
}

// checkPassword checks an app's SSH password and returns the app's owner,
// the user a password session acts as.
func (s *Service) checkPassword(ctx context.Context, app, password string) (store.User, error) {
	s.mu.Lock()
	recent := s.failures[app][:0]
	for _, t := range s.failures[app] {
		if time.Since(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	s.failures[app] = recent
	tooMany := len(recent) >= s.cfg.PasswordTries
	s.mu.Unlock()
	if tooMany {
		return store.User{}, api.Errorf(api.CodeForbidden, "too many wrong passwords for app %s in the last minute", app)
	}
	set, err := s.cfg.Store.AppSSH(ctx, app)
	if err != nil {
		return store.User{}, err
	}
	if !auth.CheckPassword(set.PasswordHash, password) { // an empty hash still costs a comparison
		s.mu.Lock()
		s.failures[app] = append(s.failures[app], time.Now())
		s.mu.Unlock()
		return store.User{}, api.Errorf(api.CodeForbidden, "wrong password for app %s (or it has none)", app)
	}
	a, err := s.cfg.Store.App(ctx, app)
	if err != nil {
		return store.User{}, denied(err, "app %s is gone", app)
	}
	u, err := s.cfg.Store.User(ctx, a.OwnerID)
	return u, denied(err, "the owner of app %s is gone", app)
}

// --- sessions ---

func (s *Service) handleSession(w http.ResponseWriter, r *http.Request, nodeID string) {
	var req proto.SSHSessionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	sess, err := s.startSession(r.Context(), nodeID, req)
	if err != nil {
		s.log.Info("ssh session refused", "login", req.Identity.Login, "kind", req.Kind, "app", req.App, "remote", req.Remote, "reason", err)
		fail(w, err)
		return
	}
	writeJSON(w, sess)
}

func (s *Service) startSession(ctx context.Context, sshNode string, req proto.SSHSessionRequest) (proto.SSHSession, error) {
	id := req.Identity
	user, err := s.cfg.Store.User(ctx, id.UserID)
	if err != nil {
		return proto.SSHSession{}, denied(err, "user %s is gone", id.UserID)
	}
	app, n, err := parseLogin(id.Login)
	if err != nil {
		return proto.SSHSession{}, err
	}
	var out proto.SSHSession
	switch req.Kind {
	case proto.SSHShell, proto.SSHCommand, proto.SSHSFTP:
		if app == "" {
			return out, api.Errorf(api.CodeBadRequest, "git@ only takes git push: log in as APP@ for a shell, a command or SFTP")
		}
	case proto.SSHGitPush:
		if err := api.ValidName("app", req.App); err != nil {
			return out, err
		}
		if id.Method == proto.SSHMethodPassword && req.App != app {
			return out, api.Errorf(api.CodeForbidden, "the password of app %s does not open app %s", app, req.App)
		}
		app, n = req.App, 0
	default:
		return out, api.Errorf(api.CodeBadRequest, "unknown session kind %q", req.Kind)
	}
	a, err := s.cfg.Apps.Get(ctx, user, app)
	if err != nil {
		return out, err
	}
	sess := &session{id: store.NewID("s-"), sshNode: sshNode, user: user, app: a.Name, kind: req.Kind, started: time.Now()}
	out = proto.SSHSession{ID: sess.id, App: a.Name}
	where := ""
	if req.Kind == proto.SSHGitPush {
		set, err := s.cfg.Store.AppSSH(ctx, a.Name)
		if err != nil {
			return out, err
		}
		out.PushBranch = pushBranch(set)
	} else {
		in, err := s.pick(a, n)
		if err != nil {
			return out, err
		}
		sess.node, sess.container = in.Node, in.ID
		out.Node, out.Container = in.Node, in.ID
		where = fmt.Sprintf(" on %s (node %s)", in.ID, in.NodeName)
	}
	s.mu.Lock()
	for k, old := range s.sessions {
		if time.Since(old.started) > sessionTTL {
			delete(s.sessions, k)
		}
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	how := id.Method
	if id.Fingerprint != "" {
		how += " " + id.Fingerprint
	}
	s.audit(ctx, user.Email, "ssh.session", a.Name, fmt.Sprintf("%s %s%s from %s by %s", sess.id, req.Kind, where, req.Remote, how))
	return out, nil
}

// pick chooses the instance a session enters: the Nth as `gasper app info`
// lists them, or else a healthy one of the current release, or else any
// that runs.
func (s *Service) pick(a api.App, n int) (api.Instance, error) {
	running := func(in api.Instance) bool {
		return in.State == proto.InstanceHealthy || in.State == proto.InstanceUnhealthy || in.State == proto.InstanceStarting
	}
	if n > 0 {
		switch {
		case n > len(a.Instances) && len(a.Instances) <= 1:
			return api.Instance{}, api.Errorf(api.CodeNotFound, "app %s has %d instance: log in as %s", a.Name, len(a.Instances), a.Name)
		case n > len(a.Instances):
			return api.Instance{}, api.Errorf(api.CodeNotFound, "app %s has %d instances: log in as %s, or %s.1 to %s.%d", a.Name, len(a.Instances), a.Name, a.Name, a.Name, len(a.Instances))
		}
		in := a.Instances[n-1]
		if !running(in) {
			return api.Instance{}, api.Errorf(api.CodeConflict, "instance %d of app %s is %s, not running", n, a.Name, in.State)
		}
		return in, nil
	}
	var best *api.Instance
	for i, in := range a.Instances {
		if !running(in) {
			continue
		}
		if in.Release == a.Release && in.State == proto.InstanceHealthy {
			return in, nil
		}
		if best == nil {
			best = &a.Instances[i]
		}
	}
	if best == nil {
		return api.Instance{}, api.Errorf(api.CodeConflict, "app %s has no running instance (it is %s): deploy it, or see gasper app info %s", a.Name, a.Status, a.Name)
	}
	return *best, nil
}

// session returns a live session the node started.
func (s *Service) session(id, sshNode string) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil || sess.sshNode != sshNode {
		return nil, api.Errorf(api.CodeNotFound, "session %s not found (did the master restart? reconnect)", id)
	}
	return sess, nil
}

func (s *Service) handleEnd(w http.ResponseWriter, r *http.Request, nodeID string) {
	var end proto.SSHSessionEnd
	if !decodeBody(w, r, &end) {
		return
	}
	sess, err := s.session(r.PathValue("id"), nodeID)
	if err != nil {
		fail(w, err)
		return
	}
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
	s.audit(r.Context(), sess.user.Email, "ssh.session.end", sess.app,
		fmt.Sprintf("%s %s exit %d after %s", sess.id, sess.kind, end.ExitCode, end.Duration.Round(time.Millisecond)))
	w.WriteHeader(http.StatusNoContent)
}

// handleRelay relays a session's exec stream to the node running its
// container.
func (s *Service) handleRelay(w http.ResponseWriter, r *http.Request, nodeID string) {
	sess, err := s.session(r.PathValue("id"), nodeID)
	if err == nil && sess.container == "" {
		err = api.Errorf(api.CodeBadRequest, "session %s runs no container", sess.id)
	}
	if err != nil {
		fail(w, err)
		return
	}
	if !proto.IsExecRequest(r) {
		http.Error(w, "this route needs Upgrade: "+proto.ExecUpgrade, http.StatusBadRequest)
		return
	}
	upstream, err := s.openExec(r.Context(), sess.node, sess.app, sess.container)
	if err != nil {
		fail(w, err)
		return
	}
	down, err := proto.AcceptExec(w)
	if err != nil {
		upstream.Close()
		return
	}
	splice(down, upstream)
}

// handleDeploy deploys a pushed tree and streams the build log back.
func (s *Service) handleDeploy(w http.ResponseWriter, r *http.Request, nodeID string) {
	sess, err := s.session(r.PathValue("id"), nodeID)
	if err == nil && sess.kind != proto.SSHGitPush {
		err = api.Errorf(api.CodeBadRequest, "session %s is not a git push", sess.id)
	}
	if err != nil {
		fail(w, err)
		return
	}
	ctx := r.Context()
	rel, err := s.cfg.Apps.UploadSource(ctx, sess.user, sess.app, http.MaxBytesReader(w, r.Body, 200<<20))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Trailer", proto.TrailerDeployResult)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "==> release %d of %s: building\n", rel.Number, sess.app)
	res := proto.SSHDeployResult{Release: rel.Number}
	if err := s.cfg.Apps.BuildLog(ctx, sess.user, sess.app, rel.Number, true, w); err != nil {
		res.Error = err.Error()
	} else if r, err := s.cfg.Apps.Release(context.WithoutCancel(ctx), sess.user, sess.app, rel.Number); err != nil {
		res.Error = err.Error()
	} else if r.Status != api.ReleaseReady {
		res.Error = fmt.Sprintf("release %d is %s: %s", r.Number, r.Status, r.Error)
	} else {
		res.OK = true
	}
	b, _ := json.Marshal(res)
	w.Header().Set(proto.TrailerDeployResult, string(b))
}

// splice copies between two streams until either ends, then closes both.
func splice(a, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(a, b); done <- struct{}{} }()
	go func() { io.Copy(b, a); done <- struct{}{} }()
	<-done
	a.Close()
	b.Close()
	<-done
}
