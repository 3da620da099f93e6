package container

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd"
)

// Connect returns a containerd client bound to namespace, for callers that
// need images but run no containers (gasper-agent images build). It fails
// within five seconds, naming the socket, when containerd is not there.
func Connect(ctx context.Context, socket, namespace string) (*containerd.Client, error) {
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w (is containerd running?)", socket, err)
	}
	client, err := containerd.New(socket, containerd.WithDefaultNamespace(namespace), containerd.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", socket, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Version(vctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("connecting to containerd at %s: %w (is containerd running?)", socket, err)
	}
	return client, nil
}
