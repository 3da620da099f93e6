package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/ssh"

	"gasper/api"
	"gasper/master/apps"
	"gasper/master/auth"
	"gasper/master/store"
	"gasper/proto"
)

// Nodes is what the service needs of the node registry.
type Nodes interface {
	Nodes(ctx context.Context) ([]api.Node, error)
}

// Tunnel is what the service needs of the tunnel: an HTTP client to a node.
type Tunnel interface {
	Client(nodeID string) (*http.Client, bool)
}

// Config configures the service.
type Config struct {
	Store  *store.Store
	Apps   *apps.Service
	Nodes  Nodes
	Tunnel Tunnel
	// PasswordTries bounds wrong SSH passwords per app per minute; beyond
	// it every password is refused until the minute has passed.
	PasswordTries int
	Logger        *slog.Logger
}

// Service manages SSH keys and app settings and runs sessions. Create it
// with New.
type Service struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string][]time.Time // app -> recent wrong passwords
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PasswordTries == 0 {
		cfg.PasswordTries = 10
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "remote"),
		sessions: map[string]*session{}, failures: map[string][]time.Time{}}
}

// --- keys ---

// Keys lists who's keys.
func (s *Service) Keys(ctx context.Context, who store.User) ([]api.SSHKey, error) {
	ks, err := s.cfg.Store.SSHKeys(ctx, who.ID)
	if err != nil {
		return nil, err
	}
	out := make([]api.SSHKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyView(k, who.Email))
	}
	return out, nil
}

func keyView(k store.SSHKey, owner string) api.SSHKey {
	typ, _, _ := strings.Cut(k.PublicKey, " ")
	return api.SSHKey{ID: k.ID, Name: k.Name, Type: typ, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey,
		Owner: owner, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}

// AddKey registers a public key for who.
func (s *Service) AddKey(ctx context.Context, who store.User, req api.AddSSHKeyRequest) (api.SSHKey, error) {
	line := strings.TrimSpace(req.PublicKey)
	if strings.Contains(line, "PRIVATE KEY") {
		return api.SSHKey{}, api.Errorf(api.CodeBadRequest, "that is a private key: register the public one (the .pub file next to it), and keep the private key to yourself")
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return api.SSHKey{}, api.Errorf(api.CodeBadRequest, "not an SSH public key: give one line of a .pub file, like the output of cat ~/.ssh/id_ed25519.pub")
	}
	if err := strongEnough(pub); err != nil {
		return api.SSHKey{}, err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = strings.TrimSpace(comment)
	}
	if name == "" {
		name = pub.Type()
	}
	if len(name) > 100 || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return api.SSHKey{}, api.Errorf(api.CodeBadRequest, "key name %q must be printable and at most 100 characters", name)
	}
	k := store.SSHKey{ID: store.NewID("k-"), UserID: who.ID, Name: name, Fingerprint: ssh.FingerprintSHA256(pub),
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))), CreatedAt: time.Now().UTC()}
	if err := s.cfg.Store.AddSSHKey(ctx, k); err != nil {
		return api.SSHKey{}, err
	}
	s.audit(ctx, who.Email, "ssh-key.add", k.Fingerprint, name)
	return keyView(k, who.Email), nil
}

// strongEnough refuses keys OpenSSH itself no longer accepts.
func strongEnough(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoDSA:
		return api.Errorf(api.CodeBadRequest, "DSA keys are not accepted: make an ed25519 key with ssh-keygen -t ed25519")
	case ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(interface{ Size() int }); ok && rk.Size()*8 < 2048 {
				return api.Errorf(api.CodeBadRequest, "RSA keys must have at least 2048 bits: make an ed25519 key with ssh-keygen -t ed25519")
			}
		}
	}
	return nil
}

// RemoveKey removes one of who's keys (admins: anyone's).
func (s *Service) RemoveKey(ctx context.Context, who store.User, id string) error {
	k, err := s.cfg.Store.SSHKey(ctx, id)
	if err == nil && k.UserID != who.ID && !who.Admin {
		err = api.Errorf(api.CodeNotFound, "SSH key %s not found", id)
	}
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteSSHKey(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, who.Email, "ssh-key.remove", k.Fingerprint, k.Name)
	return nil
}

// --- app settings ---

// AppSSH says how to reach an app over SSH.
func (s *Service) AppSSH(ctx context.Context, who store.User, name string) (api.AppSSH, error) {
	a, err := s.cfg.Apps.Get(ctx, who, name)
	if err != nil {
		return api.AppSSH{}, err
	}
	set, err := s.cfg.Store.AppSSH(ctx, a.Name)
	if err != nil {
		return api.AppSSH{}, err
	}
	v := api.AppSSH{App: a.Name, Nodes: []string{}, PushBranch: pushBranch(set), HasPassword: set.PasswordHash != ""}
	ns, err := s.cfg.Nodes.Nodes(ctx)
	if err != nil {
		return api.AppSSH{}, err
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].Hostname < ns[j].Hostname })
	for _, n := range ns {
		if n.Connected && n.State == api.NodeReady && slices.Contains(n.Roles, proto.RoleSSH) && n.Facts.SSHAddr != "" {
			v.Nodes = append(v.Nodes, n.Facts.SSHAddr)
		}
	}
	if len(v.Nodes) > 0 {
		host, port, _ := net.SplitHostPort(v.Nodes[0])
		v.Command = fmt.Sprintf("ssh -p %s %s@%s", port, a.Name, host)
		v.GitRemote = fmt.Sprintf("ssh://%s@%s/%s.git", a.Name, v.Nodes[0], a.Name)
	}
	return v, nil
}

func pushBranch(set store.AppSSH) string {
	if set.PushBranch == "" {
		return "main"
	}
	return set.PushBranch
}

// UpdateAppSSH changes an app's SSH password or push branch.
func (s *Service) UpdateAppSSH(ctx context.Context, who store.User, name string, req api.UpdateAppSSHRequest) (api.AppSSH, error) {
	a, err := s.cfg.Apps.Get(ctx, who, name)
	if err != nil {
		return api.AppSSH{}, err
	}
	if req.Password != "" && req.ClearPassword {
		return api.AppSSH{}, api.Errorf(api.CodeBadRequest, "set a password or clear it, not both")
	}
	set, err := s.cfg.Store.AppSSH(ctx, a.Name)
	if err != nil {
		return api.AppSSH{}, err
	}
	var changes []string
	if req.Password != "" {
		if set.PasswordHash, err = auth.HashPassword(req.Password); err != nil {
			return api.AppSSH{}, api.Errorf(api.CodeBadRequest, "SSH %s", err)
		}
		changes = append(changes, "password set")
	}
	if req.ClearPassword {
		set.PasswordHash = ""
		changes = append(changes, "password cleared")
	}
	if req.PushBranch != "" {
		if err := validBranch(req.PushBranch); err != nil {
			return api.AppSSH{}, err
		}
		set.PushBranch = req.PushBranch
		changes = append(changes, "push branch "+req.PushBranch)
	}
	if len(changes) == 0 {
		return api.AppSSH{}, api.Errorf(api.CodeBadRequest, "nothing to change: give a password, clear_password or push_branch")
	}
	if err := s.cfg.Store.PutAppSSH(ctx, set); err != nil {
		return api.AppSSH{}, err
	}
	s.audit(ctx, who.Email, "app.ssh", a.Name, strings.Join(changes, ", "))
	return s.AppSSH(ctx, who, name)
}

// validBranch accepts what git accepts as a branch name, give or take the
// rarest cases.
func validBranch(b string) error {
	bad := len(b) > 200 || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") ||
		strings.IndexFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) }) >= 0
	if bad {
		return api.Errorf(api.CodeBadRequest, "%q is not a valid git branch name", b)
	}
	return nil
}

func (s *Service) audit(ctx context.Context, actor, action, target, detail string) {
	if err := s.cfg.Store.Audit(ctx, actor, action, target, detail); err != nil {
		s.log.Error("write audit event", "action", action, "err", err)
	}
}
