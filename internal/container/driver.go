package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	gocni "github.com/containerd/go-cni"
)

// ErrNotFound is returned (wrapped) when a container id is unknown in the driver's namespace.
var ErrNotFound = errors.New("container not found")

// ErrExists is returned (wrapped) by Create when a container with the same id already exists.
var ErrExists = errors.New("container already exists")

// ErrInvalidID is returned (wrapped) when a container id is not a DNS label of at most 63 characters.
var ErrInvalidID = errors.New("invalid container id")

// snapshotter is the snapshotter images are unpacked for and containers' root filesystems use.
const snapshotter = "overlayfs"

// Config says where a Driver finds containerd and how it lays out the node's containers.
type Config struct {
	// Socket is containerd's gRPC socket, e.g. /run/containerd/containerd.sock.
	Socket string
	// Namespace is the containerd namespace of this node, e.g. "gasper-node1"; it also names the
	// CNI network.
	Namespace string
	// StateDir holds logs/<id>.log, the CNI configuration and IP allocations, pinned network
	// namespaces and per-container files (hosts, resolv.conf) for this node.
	StateDir string
	// Bridge is the name of the node's CNI bridge (at most 15 characters), e.g. "gasper0".
	Bridge string
	// Subnet is the node's container subnet in CIDR form, e.g. "10.88.0.0/24".
	Subnet string
	// HostIP is the address published ports bind to: the node's advertise address.
	HostIP string
	// DNS lists the nameservers written into containers' resolv.conf. When empty, the host's
	// non-loopback nameservers are used (from /etc/resolv.conf, else systemd-resolved's upstream
	// list); when the host has none, containers get a resolv.conf without nameservers, so lookups
	// fail fast instead of hanging on an address nothing answers.
	DNS []string
	// CNIBinDir holds the CNI plugin binaries; default /usr/lib/cni.
	CNIBinDir string
	// Logger receives the driver's logs; default slog.Default().
	Logger *slog.Logger
}

// Validate reports the first missing or malformed field of c.
func (c Config) Validate() error {
	switch {
	case c.Socket == "":
		return errors.New("container driver config: socket is required")
	case c.Namespace == "":
		return errors.New("container driver config: namespace is required")
	case c.StateDir == "":
		return errors.New("container driver config: state dir is required")
	case c.Bridge == "" || len(c.Bridge) > 15:
		return fmt.Errorf("container driver config: bridge name %q must have 1 to 15 characters", c.Bridge)
	case net.ParseIP(c.HostIP) == nil || net.ParseIP(c.HostIP).To4() == nil:
		return fmt.Errorf("container driver config: host ip %q is not an IPv4 address", c.HostIP)
	}
	if _, _, err := net.ParseCIDR(c.Subnet); err != nil {
		return fmt.Errorf("container driver config: subnet: %w", err)
	}
	for _, s := range c.DNS {
		if net.ParseIP(s) == nil {
			return fmt.Errorf("container driver config: dns server %q is not an IP address", s)
		}
	}
	return nil
}

// Driver runs the containers of one node in one containerd namespace. It is safe for concurrent
// use; operations on the same container id are serialised.
// HostInit is the init process a container with Spec.Init runs as PID 1,
// bind-mounted from the host (Debian's tini package): it reaps zombies and
// passes signals on, so an app that never installed a SIGTERM handler still
// stops when asked instead of waiting out the kill grace.
const HostInit = "/usr/bin/tini-static"

// initPath is where HostInit appears inside the container.
const initPath = "/.gasper-init"

type Driver struct {
	cfg    Config
	log    *slog.Logger
	client *containerd.Client
	cni    gocni.CNI
	dns    []string

	mu    sync.Mutex
	locks map[string]*idLock
	// portMu serialises choosing host ports and installing their rules, so
	// two starts in this process cannot pick the same port.
	portMu sync.Mutex
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// New connects to containerd (failing within a few seconds, naming the socket, when it does not
// answer), writes the node's CNI network configuration and prepares the state directory.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.CNIBinDir == "" {
		cfg.CNIBinDir = "/usr/lib/cni"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, dir := range []string{"logs", "netns", "containers", "cni"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, dir), 0o700); err != nil {
			return nil, fmt.Errorf("creating container state dir: %w", err)
		}
	}
	if _, err := os.Stat(cfg.Socket); err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.Socket, err)
	}
	client, err := containerd.New(cfg.Socket,
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.Socket, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Version(vctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.Socket, err)
	}
	d := &Driver{cfg: cfg, log: cfg.Logger.With("component", "container"), client: client, locks: map[string]*idLock{}}
	d.dns = cfg.DNS
	if len(d.dns) == 0 {
		d.dns = hostNameservers()
		if len(d.dns) == 0 {
			d.log.Warn("the host has no non-loopback nameserver; containers get none")
		}
	}
	if err := d.initCNI(); err != nil {
		client.Close()
		return nil, err
	}
	if err := d.releaseStale(ctx); err != nil {
		d.log.Warn("releasing the network state of containers that are gone", "err", err)
	}
	return d, nil
}

// Close releases the connection to containerd. Containers keep running.
func (d *Driver) Close() error {
	return d.client.Close()
}

// Client returns the containerd client, bound to the driver's namespace, so internal/image can
// import images where the driver finds them.
func (d *Driver) Client() *containerd.Client {
	return d.client
}

// Namespace returns the containerd namespace the driver works in.
func (d *Driver) Namespace() string {
	return d.cfg.Namespace
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateID reports whether id can name a container: a DNS label of lower-case letters, digits
// and inner dashes, at most 63 characters. Ids become file names and iptables comments, so they are
// checked before anything runs.
func ValidateID(id string) error {
	if len(id) == 0 || len(id) > 63 || !idPattern.MatchString(id) {
		return fmt.Errorf("%w %q: want 1-63 characters of a-z, 0-9 and inner '-'", ErrInvalidID, id)
	}
	return nil
}

// lock serialises operations on one container id and returns the unlock function.
func (d *Driver) lock(id string) func() {
	d.mu.Lock()
	l := d.locks[id]
	if l == nil {
		l = &idLock{}
		d.locks[id] = l
	}
	l.refs++
	d.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		d.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(d.locks, id)
		}
		d.mu.Unlock()
	}
}

func (d *Driver) logPath(id string) string {
	return filepath.Join(d.cfg.StateDir, "logs", id+".log")
}

func (d *Driver) netnsPath(id string) string {
	return filepath.Join(d.cfg.StateDir, "netns", id)
}

func (d *Driver) filesDir(id string) string {
	return filepath.Join(d.cfg.StateDir, "containers", id)
}

// hostNameservers returns the host's non-loopback nameservers: a loopback resolver (such as
// systemd-resolved's stub) is unreachable from a container's network namespace.
func hostNameservers() []string {
	for _, path := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		var out []string
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] != "nameserver" {
				continue
			}
			ip := net.ParseIP(fields[1])
			if ip != nil && !ip.IsLoopback() {
				out = append(out, ip.String())
			}
		}
		f.Close()
		if len(out) > 0 {
			return out
		}
	}
	return nil
}
