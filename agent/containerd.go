package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/containerd/containerd"
)

// containerdVersion connects to containerd and returns its version. It fails
// within timeout, naming the socket and the fix, when containerd is not
// there: an agent without containerd can do nothing useful.
func containerdVersion(ctx context.Context, socket, namespace string, timeout time.Duration) (string, error) {
	hint := "is containerd running? start it with `containerd &` or `systemctl start containerd`, or pass --containerd-socket"
	if _, err := os.Stat(socket); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("containerd socket %s does not exist: %s", socket, hint)
		}
		return "", fmt.Errorf("checking the containerd socket %s: %w: %s", socket, err, hint)
	}
	client, err := containerd.New(socket, containerd.WithDefaultNamespace(namespace), containerd.WithTimeout(timeout))
	if err != nil {
		return "", fmt.Errorf("connecting to containerd at %s: %w: %s", socket, err, hint)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := client.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("asking containerd at %s for its version: %w: %s", socket, err, hint)
	}
	return v.Version, nil
}
