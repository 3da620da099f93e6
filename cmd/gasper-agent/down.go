package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"gasper/agent"
	"gasper/internal/container"
)

// newDownCmd is `gasper-agent down`: with the agent stopped, it removes the
// node's containers (their networks too), so nothing of the node keeps
// running. A later `gasper-agent join` with the same state dir starts them
// again from the desired apps it kept. --purge also removes the node's
// images and containerd namespace.
func newDownCmd(stdout io.Writer) *cobra.Command {
	var stateDir, socket, namespace, bridge, subnet string
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove this node's containers (run after stopping the agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			d, err := container.New(ctx, container.Config{Socket: socket, Namespace: namespace,
				StateDir: filepath.Join(stateDir, "containers"), Bridge: bridge, Subnet: subnet, HostIP: "127.0.0.1"})
			if err != nil {
				return err
			}
			defer d.Close()
			cs, err := d.List(ctx, nil)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if err := d.Stop(ctx, c.ID, 10*time.Second); err != nil {
					fmt.Fprintf(stdout, "stop %s: %v\n", c.ID, err)
				}
				if err := d.Remove(ctx, c.ID); err != nil {
					return fmt.Errorf("remove container %s: %w", c.ID, err)
				}
				fmt.Fprintf(stdout, "removed container %s\n", c.ID)
			}
			if purge {
				return d.Purge(ctx)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", agent.DefaultStateDir, "the node's state directory")
	f.StringVar(&socket, "containerd-socket", agent.DefaultContainerdSocket, "containerd socket")
	f.StringVar(&namespace, "containerd-namespace", agent.DefaultContainerdNamespace, "the node's containerd namespace")
	f.StringVar(&bridge, "bridge", "gasper0", "the node's container bridge")
	f.StringVar(&subnet, "subnet", "10.89.0.0/24", "the node's container subnet")
	f.BoolVar(&purge, "purge", false, "also remove the node's images, containerd namespace and bridge")
	return cmd
}
