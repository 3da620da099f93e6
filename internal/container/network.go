package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	gocni "github.com/containerd/go-cni"
	"golang.org/x/sys/unix"
)

// cniConfList is the node's network: a bridge with host-local addresses, portmap for published
// ports (snat so connections from the host's own loopback addresses get answers), and firewall so
// forwarding works on hosts whose FORWARD policy is DROP.
func (d *Driver) cniConfList() ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       d.cfg.Namespace,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      d.cfg.Bridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": d.cfg.Subnet}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(d.cfg.StateDir, "cni", "ipam"),
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
			map[string]any{
				"type":    "firewall",
				"backend": "iptables",
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func (d *Driver) initCNI() error {
	conf, err := d.cniConfList()
	if err != nil {
		return fmt.Errorf("encoding cni config: %w", err)
	}
	// Loaded before loopback so go-cni names the container's interface eth0.
	// Written for operators to inspect; the driver loads the bytes it wrote, not the file.
	if err := os.WriteFile(filepath.Join(d.cfg.StateDir, "cni", "net.conflist"), conf, 0o600); err != nil {
		return fmt.Errorf("writing cni config: %w", err)
	}
	c, err := gocni.New(gocni.WithPluginDir([]string{d.cfg.CNIBinDir}), gocni.WithInterfacePrefix("eth"), gocni.WithMinNetworkCount(2))
	if err != nil {
		return fmt.Errorf("initialising cni: %w", err)
	}
	if err := c.Load(gocni.WithConfListBytes(conf), gocni.WithLoNetwork); err != nil {
		return fmt.Errorf("loading cni config: %w", err)
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "firewall", "loopback"} {
		if _, err := os.Stat(filepath.Join(d.cfg.CNIBinDir, p)); err != nil {
			return fmt.Errorf("checking cni plugin %s in %s: %w", p, d.cfg.CNIBinDir, err)
		}
	}
	d.cni = c
	return nil
}

// portMappings turns ports into CNI capability arguments on the node's HostIP.
func (d *Driver) portMappings(ports []Port) []gocni.PortMapping {
	out := make([]gocni.PortMapping, 0, len(ports))
	for _, p := range ports {
		out = append(out, gocni.PortMapping{
			HostPort:      int32(p.HostPort),
			ContainerPort: int32(p.ContainerPort),
			Protocol:      p.Protocol,
			HostIP:        d.cfg.HostIP,
		})
	}
	return out
}

// assignHostPorts fills in HostPort 0 with a port free on HostIP. The kernel
// offers one nothing listens on; but published ports are DNAT rules that hold
// no socket, so the offer is checked against the rules already installed for
// HostIP (by this process or any other), or two containers would share a port
// and one would receive the other's traffic. The caller holds d.portMu.
func (d *Driver) assignHostPorts(ports []Port) ([]Port, error) {
	out := make([]Port, len(ports))
	var used map[int]bool
	for i, p := range ports {
		if p.HostPort == 0 {
			if used == nil {
				used = publishedPorts(d.cfg.HostIP)
				for _, q := range out[:i] {
					used[q.HostPort] = true
				}
			}
			for try := 0; ; try++ {
				hp, err := freePort(d.cfg.HostIP, p.Protocol)
				if err != nil {
					return nil, fmt.Errorf("choosing a host port for container port %d: %w", p.ContainerPort, err)
				}
				if !used[hp] {
					p.HostPort = hp
					used[hp] = true
					break
				}
				if try == 100 {
					return nil, fmt.Errorf("choosing a host port for container port %d: every port offered is already published", p.ContainerPort)
				}
			}
		}
		out[i] = p
	}
	return out, nil
}

// publishedPorts lists the ports that NAT rules already send somewhere for
// hostIP, read from iptables-save.
func publishedPorts(hostIP string) map[int]bool {
	used := map[int]bool{}
	out, err := exec.Command("iptables-save", "-t", "nat").Output()
	if err != nil {
		return used
	}
	dst := "-d " + hostIP + "/32"
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, dst) {
			continue
		}
		fields := strings.Fields(line)
		for i, f := range fields {
			if f == "--dport" && i+1 < len(fields) {
				if n, err := strconv.Atoi(fields[i+1]); err == nil {
					used[n] = true
				}
			}
		}
	}
	return used
}

func freePort(ip, proto string) (int, error) {
	addr := net.JoinHostPort(ip, "0")
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// setupNetwork pins a network namespace for id and attaches it to the node's bridge with the given
// published ports. It returns the container's IP.
func (d *Driver) setupNetwork(ctx context.Context, id string, ports []Port) (string, error) {
	path := d.netnsPath(id)
	if err := newNetns(path); err != nil {
		return "", fmt.Errorf("creating network namespace for %s: %w", id, err)
	}
	res, err := d.cni.Setup(ctx, id, path, gocni.WithCapabilityPortMap(d.portMappings(ports)))
	if err != nil {
		d.teardownNetwork(ctx, id, ports)
		return "", fmt.Errorf("attaching %s to bridge %s: %w", id, d.cfg.Bridge, err)
	}
	var ip string
	if cfg, ok := res.Interfaces["eth0"]; ok {
		for _, c := range cfg.IPConfigs {
			if c.IP.To4() != nil {
				ip = c.IP.String()
				break
			}
		}
	}
	if ip == "" {
		d.teardownNetwork(ctx, id, ports)
		return "", fmt.Errorf("attaching %s to bridge %s: cni returned no IPv4 address", id, d.cfg.Bridge)
	}
	if ip4 := net.ParseIP(d.cfg.HostIP); ip4.IsLoopback() {
		// DNAT from the host's own loopback address to the bridge is dropped as martian unless
		// the outgoing interface allows loopback sources; portmap's snat then rewrites them.
		sysctl := filepath.Join("/proc/sys/net/ipv4/conf", d.cfg.Bridge, "route_localnet")
		if err := os.WriteFile(sysctl, []byte("1"), 0o644); err != nil {
			d.teardownNetwork(ctx, id, ports)
			return "", fmt.Errorf("allowing loopback-published ports on %s: %w", d.cfg.Bridge, err)
		}
	}
	return ip, nil
}

// teardownNetwork removes id's CNI state (address, port mappings, firewall rules) and its pinned
// network namespace. It is idempotent and best effort: failures are logged and returned.
func (d *Driver) teardownNetwork(ctx context.Context, id string, ports []Port) error {
	path := d.netnsPath(id)
	var errs []error
	if _, err := os.Stat(path); err == nil || d.hasIPAllocation(id) {
		if err := d.cni.Remove(ctx, id, path, gocni.WithCapabilityPortMap(d.portMappings(ports))); err != nil {
			errs = append(errs, fmt.Errorf("detaching %s from bridge %s: %w", id, d.cfg.Bridge, err))
		}
	}
	if err := removeNetns(path); err != nil {
		errs = append(errs, fmt.Errorf("removing network namespace of %s: %w", id, err))
	}
	err := errors.Join(errs...)
	if err != nil {
		d.log.Warn("network teardown incomplete", "container", id, "err", err)
	}
	return err
}

// hasIPAllocation reports whether host-local still holds an address for id.
func (d *Driver) hasIPAllocation(id string) bool {
	dir := filepath.Join(d.cfg.StateDir, "cni", "ipam", d.cfg.Namespace)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if net.ParseIP(e.Name()) == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && len(b) >= len(id) && string(b[:len(id)]) == id {
			return true
		}
	}
	return false
}

// newNetns creates a network namespace and bind-mounts it at path, so it outlives every process
// in it. Creating it on a thread that then exits keeps the caller's threads in the host namespace.
func newNetns(path string) error {
	if _, err := os.Stat(path); err == nil {
		var st unix.Statfs_t
		if unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o400)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the runtime discards the
		// thread along with the namespace it switched to.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mounting %s: %w", src, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
