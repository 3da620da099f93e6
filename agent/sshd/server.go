package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"gasper/proto"
)

// Config configures the ssh role.
type Config struct {
	// Addr is where the role listens, host:port.
	Addr string
	// StateDir keeps the host key (ssh_host_ed25519_key, generated on first
	// start) and the repositories git pushes go to.
	StateDir string
	// Master returns an HTTP client to the master over the tunnel.
	Master func() *http.Client
	// NodeID returns this node's id, once known.
	NodeID func() string
	// Local, when this node has the app role, runs an exec stream into one
	// of its containers in-process (apps.Manager.ServeExec); sessions into
	// containers here then skip the relay through the master.
	Local func(ctx context.Context, app, container string, stream io.ReadWriteCloser)
	// IdleTimeout closes a connection that carried nothing for this long;
	// default 30 minutes.
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// Server is the ssh role. Create it with New and run it with Run.
type Server struct {
	cfg     Config
	log     *slog.Logger
	hostKey gossh.Signer
}

// hostKeyFile is the host key's file in StateDir.
const hostKeyFile = "ssh_host_ed25519_key"

// identityExt is the permissions extension carrying the SSHIdentity the
// master gave a connection at login.
const identityExt = "gasper-identity"

// New loads (or makes, once) the host key.
func New(cfg Config) (*Server, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("ssh role: listen address %q is not host:port", cfg.Addr)
	}
	if cfg.Master == nil || cfg.NodeID == nil {
		return nil, errors.New("ssh role: Master and NodeID are required")
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("ssh role: %w", err)
	}
	key, err := loadOrCreateHostKey(filepath.Join(cfg.StateDir, hostKeyFile))
	if err != nil {
		return nil, fmt.Errorf("ssh role: host key: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Logger.With("component", "sshd"), hostKey: key}, nil
}

// HostKey returns the server's public host key.
func (s *Server) HostKey() gossh.PublicKey { return s.hostKey.PublicKey() }

// loadOrCreateHostKey reads the host key, generating it (mode 0600) when
// there is none: clients pin it, so it must survive restarts.
func loadOrCreateHostKey(path string) (gossh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(priv, "gasper ssh role")
		if err != nil {
			return nil, err
		}
		b = pem.EncodeToMemory(block)
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return gossh.ParsePrivateKey(b)
}

// Run serves until ctx ends. An address it cannot listen on is an error at
// once.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	srv := &ssh.Server{
		Version:     "Gasper",
		HostSigners: []ssh.Signer{s.hostKey},
		IdleTimeout: s.cfg.IdleTimeout,
		// Keys are checked in our own callback, so that each key's answer
		// (who it is) stays with that key: x/crypto/ssh remembers the
		// permissions of the key that finally authenticated.
		ServerConfigCallback: func(ctx ssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{PublicKeyCallback: func(conn gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
				id, err := s.authenticate(ctx, proto.SSHAuthRequest{Login: conn.User(), Remote: conn.RemoteAddr().String(),
					PublicKey: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(key)))})
				if err != nil {
					return nil, err
				}
				return &gossh.Permissions{Extensions: map[string]string{identityExt: id}}, nil
			}}
		},
		PasswordHandler: func(ctx ssh.Context, password string) bool {
			id, err := s.authenticate(ctx, proto.SSHAuthRequest{Login: ctx.User(), Password: password, Remote: ctx.RemoteAddr().String()})
			if err != nil {
				return false
			}
			ctx.Permissions().Extensions = map[string]string{identityExt: id}
			return true
		},
		ChannelHandlers: map[string]ssh.ChannelHandler{"session": s.handleSession},
		ConnCallback:    func(_ ssh.Context, c net.Conn) net.Conn { return quickAck(c) },
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			s.log.Debug("ssh connection failed", "remote", conn.RemoteAddr().String(), "err", err)
		},
	}
	s.log.Info("ssh role listening", "addr", ln.Addr().String(), "host_key", gossh.FingerprintSHA256(s.hostKey.PublicKey()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close() // sessions still open are cut
	}
	<-errc
	return nil
}

// authenticate asks the master whether a login may go in, and returns the
// identity it answers, encoded for the connection's permissions.
func (s *Server) authenticate(ctx context.Context, req proto.SSHAuthRequest) (string, error) {
	var id proto.SSHIdentity
	if err := s.call(ctx, proto.PathSSHAuth, req, &id); err != nil {
		s.log.Info("ssh login refused", "login", req.Login, "remote", req.Remote, "reason", err)
		return "", errors.New("permission denied")
	}
	b, _ := json.Marshal(id)
	return string(b), nil
}

// identity returns who a connection logged in as.
func identity(conn *gossh.ServerConn) (proto.SSHIdentity, bool) {
	var id proto.SSHIdentity
	if conn.Permissions == nil || conn.Permissions.Extensions[identityExt] == "" {
		return id, false
	}
	return id, json.Unmarshal([]byte(conn.Permissions.Extensions[identityExt]), &id) == nil
}

// refusedError is the master's refusal, whose text is meant for the user.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// call POSTs in as JSON to the master and decodes the answer into out.
func (s *Server) call(ctx context.Context, path string, in, out any) error {
	body, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://master"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Master().Do(req)
	if err != nil {
		return fmt.Errorf("the master is unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &refusedError{strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
