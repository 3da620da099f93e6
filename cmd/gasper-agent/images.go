package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"gasper/agent"
	"gasper/engines"
	"gasper/internal/container"
	"gasper/internal/image"
	"gasper/runtimes"
)

// newImagesCmd is `gasper-agent images build [NAMES]`: it builds the runtime
// images ahead of time, so a node's first deploy does not wait for them.
func newImagesCmd(stdout io.Writer) *cobra.Command {
	images := &cobra.Command{Use: "images", Short: "Manage the images this node builds"}
	var socket, namespace, cache string
	build := &cobra.Command{
		Use:   "build [RUNTIME|ENGINE...]",
		Short: "Build runtime and database engine images now (all of them without arguments)",
		Long: `Build the runtime and database engine images ahead of time, so a node's first
deploy or database does not wait for them. Images are cached by their recipe's hash under --image-cache,
which the agents of one machine share; a built image is a cache hit.`,
		Example: "  gasper-agent images build\n  gasper-agent images build static php python3 postgresql",
		RunE: func(cmd *cobra.Command, args []string) error {
			var recipes []image.Recipe
			var names []string
			for _, rt := range runtimes.All() {
				names = append(names, rt.Name)
				if len(args) == 0 || slices.Contains(args, rt.Name) {
					recipes = append(recipes, rt.Recipe)
				}
			}
			for _, e := range engines.All() {
				names = append(names, e.Name)
				if len(args) == 0 || slices.Contains(args, e.Name) {
					recipes = append(recipes, e.Recipe)
				}
			}
			for _, a := range args {
				if !slices.Contains(names, a) {
					return usageError{fmt.Errorf("no runtime or engine %q: use any of %s", a, strings.Join(names, ", "))}
				}
			}
			client, err := container.Connect(cmd.Context(), socket, namespace)
			if err != nil {
				return err
			}
			defer client.Close()
			b, err := image.NewBuilder(image.Config{CacheDir: cache, Client: client, Namespace: namespace})
			if err != nil {
				return err
			}
			return b.EnsureAll(cmd.Context(), recipes, stdout)
		},
	}
	f := build.Flags()
	f.StringVar(&socket, "containerd-socket", agent.DefaultContainerdSocket, "containerd socket")
	f.StringVar(&namespace, "containerd-namespace", agent.DefaultContainerdNamespace, "containerd namespace to import into (the node's)")
	f.StringVar(&cache, "image-cache", image.DefaultCacheDir, "directory of built images, shared by the agents of a machine")
	images.AddCommand(build)
	return images
}
