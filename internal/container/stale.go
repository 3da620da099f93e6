package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
)

// portmapRule matches the jump rule CNI's portmap plugin installs for each container with
// published ports; its comment names the network (here, the node's containerd namespace) and the
// container id.
var portmapRule = regexp.MustCompile(`^-A CNI-HOSTPORT-DNAT .*--comment "dnat name: \\"([^"\\]+)\\" id: \\"([^"\\]+)\\"".* -j (CNI-DN-[0-9a-f]+)$`)

// ReleaseStalePorts removes the published-port rules of containers that containerd no longer has,
// for every network owns accepts (network names are containerd namespaces). Such rules are left by
// a crash, a wiped state directory or a containerd that lost its state; they hold no socket, so the
// kernel hands their ports to other programs, whose connections the rules then send to an address
// nobody answers on. It returns how many containers' rules it removed.
func ReleaseStalePorts(ctx context.Context, client *containerd.Client, owns func(network string) bool) (int, error) {
	out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
	if err != nil {
		return 0, fmt.Errorf("reading nat rules: %w", err)
	}
	released := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := portmapRule.FindStringSubmatch(line)
		if m == nil || !owns(m[1]) {
			continue
		}
		network, id, chain := m[1], m[2], m[3]
		_, err := client.ContainerService().Get(namespaces.WithNamespace(ctx, network), id)
		if !errdefs.IsNotFound(err) {
			continue // alive, or unknown: leave it
		}
		args, err := splitRule(strings.TrimPrefix(line, "-A "))
		if err != nil {
			return released, err
		}
		for _, cmd := range [][]string{
			append([]string{"-t", "nat", "-D"}, args...),
			{"-t", "nat", "-F", chain},
			{"-t", "nat", "-X", chain},
		} {
			if out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w"}, cmd...)...).CombinedOutput(); err != nil {
				return released, fmt.Errorf("removing stale port rule of %s/%s: iptables %s: %v: %s",
					network, id, strings.Join(cmd, " "), err, strings.TrimSpace(string(out)))
			}
		}
		released++
	}
	return released, nil
}

// splitRule splits one iptables-save rule into arguments: words, and double-quoted strings with
// backslash escapes.
func splitRule(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			quoted, inWord = !quoted, true
		case c == ' ' && !quoted:
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in nat rule %q", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// releaseStale frees what the node's network still holds for containers containerd no longer has:
// addresses, pinned network namespaces and port rules.
func (d *Driver) releaseStale(ctx context.Context) error {
	ids := map[string]bool{}
	if entries, err := os.ReadDir(filepath.Join(d.cfg.StateDir, "netns")); err == nil {
		for _, e := range entries {
			ids[e.Name()] = true
		}
	}
	ipam := filepath.Join(d.cfg.StateDir, "cni", "ipam", d.cfg.Namespace)
	if entries, err := os.ReadDir(ipam); err == nil {
		for _, e := range entries {
			if net.ParseIP(e.Name()) == nil {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(ipam, e.Name())); err == nil {
				id, _, _ := strings.Cut(string(b), "\n")
				ids[strings.TrimSpace(id)] = true
			}
		}
	}
	var errs []error
	for id := range ids {
		if ValidateID(id) != nil {
			continue
		}
		if _, err := d.client.ContainerService().Get(ctx, id); errdefs.IsNotFound(err) {
			errs = append(errs, d.teardownNetwork(ctx, id, nil))
		}
	}
	n, err := ReleaseStalePorts(ctx, d.client, func(network string) bool { return network == d.cfg.Namespace })
	if n > 0 {
		d.log.Info("released published ports of containers that are gone", "count", n)
	}
	return errors.Join(append(errs, err)...)
}
