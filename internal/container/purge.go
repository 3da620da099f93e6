package container

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/containerd/containerd/images"
	"github.com/containerd/errdefs"
)

// Purge removes every image of the driver's namespace, the namespace itself
// and the node's bridge. Containers must be removed first.
func (d *Driver) Purge(ctx context.Context) error {
	is := d.client.ImageService()
	imgs, listErr := is.List(ctx)
	if listErr != nil {
		return fmt.Errorf("list images: %w", listErr)
	}
	for _, img := range imgs {
		// Synchronous: the namespace can go only once its blobs have.
		if err := is.Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			return fmt.Errorf("remove image %s: %w", img.Name, err)
		}
	}
	// Snapshots of just-removed containers go with containerd's next garbage
	// collection, a moment later: until then the namespace is not empty.
	var err error
	for try := 0; try < 20; try++ {
		err = d.client.NamespaceService().Delete(ctx, d.cfg.Namespace)
		if err == nil || errdefs.IsNotFound(err) { // a node that never ran anything has none
			err = nil
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("remove namespace %s: %w", d.cfg.Namespace, err)
	}
	if _, err := net.InterfaceByName(d.cfg.Bridge); err == nil {
		return deleteLink(d.cfg.Bridge)
	}
	return nil
}

// deleteLink removes a network link by name (iproute2 is a dependency of
// the node anyway, for CNI).
func deleteLink(name string) error {
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("remove bridge %s: %v: %s", name, err, out)
	}
	return nil
}
