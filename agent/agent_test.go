package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gasper/internal/jointoken"
	"gasper/master/pki"
	mtunnel "gasper/master/tunnel"
	"gasper/proto"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{
			name: "defaults",
			cfg:  Config{Master: "127.0.0.1:7443", Roles: []string{"app", " DB ", "app"}, Advertise: "10.0.0.1"},
			check: func(t *testing.T, c Config) {
				if diff := cmp.Diff([]string{"app", "db"}, c.Roles); diff != "" {
					t.Errorf("roles (-want +got):\n%s", diff)
				}
				if c.StateDir != DefaultStateDir || c.ContainerdSocket != DefaultContainerdSocket || c.ContainerdNamespace != "gasper" || c.Name == "" {
					t.Errorf("defaults not filled: %+v", c)
				}
			},
		},
		{name: "malformed token", cfg: Config{Master: "m:1", Roles: []string{"app"}, JoinToken: "K10abc::x"}, wantErr: "join token is malformed"},
		{name: "no master", cfg: Config{Roles: []string{"app"}}, wantErr: "the master address is required"},
		{name: "master without port", cfg: Config{Master: "master.example.com", Roles: []string{"app"}}, wantErr: "must be host:port"},
		{name: "no roles", cfg: Config{Master: "m:1"}, wantErr: "at least one role is required: --roles with any of app,db,proxy,dns,ssh"},
		{name: "unknown role", cfg: Config{Master: "m:1", Roles: []string{"web"}}, wantErr: `unknown role "web"`},
		{name: "advertise with scheme", cfg: Config{Master: "m:1", Roles: []string{"app"}, Advertise: "http://10.0.0.1"}, wantErr: "must be an IP address or host name"},
		{name: "backoff inverted", cfg: Config{Master: "m:1", Roles: []string{"app"}, BackoffMin: time.Second, BackoffMax: time.Millisecond}, wantErr: "below its minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := cfg.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestRunFailsFastWithoutContainerd(t *testing.T) {
	dir := t.TempDir()
	notASocket := filepath.Join(dir, "plain-file.sock")
	if err := os.WriteFile(notASocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		socket string
		want   string
	}{
		{name: "missing socket", socket: filepath.Join(dir, "missing.sock"), want: "does not exist"},
		{name: "nothing listening", socket: notASocket, want: "connecting to containerd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := Run(context.Background(), Config{
				Master: "127.0.0.1:1", Roles: []string{"app"}, Advertise: "127.0.0.1", StateDir: t.TempDir(),
				ContainerdSocket: tt.socket, ContainerdTimeout: 500 * time.Millisecond,
				Logger: quietLogger(),
			})
			if err == nil {
				t.Fatal("Run succeeded without containerd")
			}
			for _, want := range []string{tt.socket, tt.want, "is containerd running?"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Run error = %q\nwant it to contain %q", err, want)
				}
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Run took %v to fail; want it fast", d)
			}
		})
	}
}

func TestContainerdVersion(t *testing.T) {
	requireContainerd(t)
	v, err := containerdVersion(context.Background(), DefaultContainerdSocket, "gasper-test", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if v == "" {
		t.Fatal("containerd reported an empty version")
	}
}

// TestRunJoinsWithRealFacts runs the whole agent against a real master
// tunnel server and checks the facts and usage the master receives.
func TestRunJoinsWithRealFacts(t *testing.T) {
	requireContainerd(t)
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jointoken.New(ca.CertDER())
	if err != nil {
		t.Fatal(err)
	}
	auth := &oneTokenAuthority{token: tok.String()}
	heartbeats := make(chan proto.Heartbeat, 16)
	srv := mtunnel.New(mtunnel.Config{
		TLS: tlsCfg, Authority: auth, HeartbeatInterval: 200 * time.Millisecond, Logger: quietLogger(),
		Handler: func(string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != proto.PathHeartbeat {
					w.WriteHeader(http.StatusNoContent) // status reports and the like
					return
				}
				var hb proto.Heartbeat
				json.NewDecoder(r.Body).Decode(&hb)
				select {
				case heartbeats <- hb:
				default:
				}
				json.NewEncoder(w).Encode(proto.HeartbeatAck{Seq: hb.Seq, State: "ready"})
			})
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(context.Background())
	mdone := make(chan error, 1)
	go func() { mdone <- srv.Serve(mctx, ln) }()
	t.Cleanup(func() { mcancel(); <-mdone })

	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() {
		adone <- Run(actx, Config{
			Master: ln.Addr().String(), JoinToken: tok.String(), Roles: []string{"db", "ssh"}, // roles that start no containers
			Advertise: "127.0.0.2", SSHAddr: "127.0.0.2:0", StateDir: t.TempDir(), Name: "node-a", Logger: quietLogger(),
		})
	}()
	t.Cleanup(func() {
		acancel()
		if err := <-adone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	var hb proto.Heartbeat
	for range 2 { // the second heartbeat has a CPU reading over a real interval
		select {
		case hb = <-heartbeats:
		case err := <-adone:
			t.Fatalf("Run ended early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat reached the master")
		}
	}
	if hb.Usage.MemoryUsedBytes == 0 || hb.Usage.DiskUsedBytes == 0 {
		t.Errorf("heartbeat usage is empty: %+v", hb.Usage)
	}
	f := auth.facts()
	if f.ContainerdVersion == "" || f.Hostname != "node-a" || f.Advertise != "127.0.0.2" || f.CPUs == 0 || f.MemoryBytes == 0 || f.DiskBytes == 0 || f.KernelVersion == "" || f.AgentVersion != Version {
		t.Errorf("facts the master received look wrong: %+v", f)
	}
	if diff := cmp.Diff([]string{"db", "ssh"}, f.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
}

type oneTokenAuthority struct {
	token string
	mu    sync.Mutex
	last  proto.Facts
}

func (a *oneTokenAuthority) Join(_ context.Context, token string, f proto.Facts) (string, string, error) {
	if token != a.token {
		return "", "", &proto.Error{Code: proto.ErrTokenInvalid, Message: "unknown join token"}
	}
	a.mu.Lock()
	a.last = f
	a.mu.Unlock()
	return "n1", "cred", nil
}

func (a *oneTokenAuthority) Authenticate(_ context.Context, id, cred string, f proto.Facts) error {
	if id != "n1" || cred != "cred" {
		return &proto.Error{Code: proto.ErrNodeUnknown, Message: "unknown node"}
	}
	a.mu.Lock()
	a.last = f
	a.mu.Unlock()
	return nil
}

func (a *oneTokenAuthority) facts() proto.Facts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func requireContainerd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(DefaultContainerdSocket); err != nil {
		t.Skipf("containerd not running (%s missing); `make test` starts it", DefaultContainerdSocket)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
