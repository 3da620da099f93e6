package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultCacheDir is where base root filesystems and layers are cached.
const DefaultCacheDir = "/var/lib/gasper/images"

// Config configures a Builder.
type Config struct {
	// CacheDir holds base root filesystems per suite and layer tarballs per
	// recipe hash; several processes may share it. Default DefaultCacheDir.
	CacheDir string
	// Client is the containerd client images are imported into. Required.
	Client *containerd.Client
	// Namespace is the containerd namespace to import into. Required.
	Namespace string
	// Snapshotter images are unpacked for. Default "overlayfs".
	Snapshotter string
	// Logger receives one line per build, import and pull. Default: discard.
	Logger *slog.Logger
	// PlainHTTPRegistries are registry hosts (like 127.0.0.1:5000) pulled
	// over plain HTTP instead of HTTPS, for tests and private registries.
	PlainHTTPRegistries []string
}

// Builder makes recipes' images available in one containerd namespace.
// Its methods are safe for concurrent use.
type Builder struct {
	cfg    Config
	client *containerd.Client
	log    *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight // recipe hash -> build in progress
}

// flight is one Ensure in progress that other callers for the same recipe
// join instead of building again.
type flight struct {
	done chan struct{}
	out  fanout
	name string
	err  error
}

// NewBuilder checks cfg, fills in defaults and prepares the cache directory.
func NewBuilder(cfg Config) (*Builder, error) {
	if cfg.Client == nil {
		return nil, errors.New("image builder: no containerd client")
	}
	if cfg.Namespace == "" {
		return nil, errors.New("image builder: no containerd namespace")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultCacheDir
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = "overlayfs"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, d := range []string{"base", "recipes", "locks", "tmp"} {
		if err := os.MkdirAll(filepath.Join(cfg.CacheDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("make image cache: %w", err)
		}
	}
	return &Builder{
		cfg:     cfg,
		client:  cfg.Client,
		log:     cfg.Logger.With("component", "image", "namespace", cfg.Namespace),
		flights: map[string]*flight{},
	}, nil
}

func (b *Builder) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, b.cfg.Namespace)
}

// Ensure makes sure r's image is in containerd and unpacked, building or
// pulling it if needed, and returns its name. Progress goes to out (may be
// nil) as it happens. Concurrent calls for one recipe build once; later
// callers see the output so far and then the rest.
func (b *Builder) Ensure(ctx context.Context, r Recipe, out io.Writer) (string, error) {
	if out == nil {
		out = io.Discard
	}
	if err := r.Validate(); err != nil {
		return "", err
	}
	name := r.ImageName()
	ctx = b.nsCtx(ctx)
	if b.present(ctx, name) {
		fmt.Fprintf(out, "image %s: cached\n", name)
		return name, nil
	}

	key := r.Hash()
	b.mu.Lock()
	if f, ok := b.flights[key]; ok {
		b.mu.Unlock()
		fmt.Fprintf(out, "waiting for build of %s\n", name)
		detach := f.out.attach(out)
		defer detach()
		select {
		case <-f.done:
			return f.name, f.err
		case <-ctx.Done():
			return "", fmt.Errorf("wait for build of %s: %w", name, ctx.Err())
		}
	}
	f := &flight{done: make(chan struct{})}
	b.flights[key] = f
	b.mu.Unlock()

	detach := f.out.attach(out)
	f.name, f.err = b.ensure(ctx, r, &f.out)
	detach()
	b.mu.Lock()
	delete(b.flights, key)
	b.mu.Unlock()
	close(f.done)
	return f.name, f.err
}

func (b *Builder) ensure(ctx context.Context, r Recipe, out io.Writer) (string, error) {
	name := r.ImageName()
	start := time.Now()
	if r.Ref != "" {
		if err := b.pull(ctx, name, out); err != nil {
			return "", err
		}
		return name, nil
	}
	base, err := b.ensureBase(ctx, r.suite(), out)
	if err != nil {
		return "", err
	}
	layer, cached := b.loadRecipe(r, base)
	if cached {
		fmt.Fprintf(out, "image %s: layer cached, importing\n", name)
	} else if layer, err = b.ensureLayer(ctx, r, base, out); err != nil {
		return "", err
	}
	layers := []v1.Layer{fileLayer{path: base.layer, info: base.Layer}, fileLayer{path: layer.layer, info: layer.Layer}}
	cfg := imageConfig(r)
	if err := b.importImage(ctx, name, layers, cfg, out); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "image %s: ready in %s\n", name, since(start))
	b.log.Info("image ready", "image", name, "seconds", time.Since(start).Seconds(), "built", !cached)
	return name, nil
}

// EnsureAll ensures each recipe in turn (builds compete for the same few
// cores, so one at a time), stopping at the first failure.
func (b *Builder) EnsureAll(ctx context.Context, recipes []Recipe, out io.Writer) error {
	for _, r := range recipes {
		if _, err := b.Ensure(ctx, r, out); err != nil {
			return fmt.Errorf("ensure image %s: %w", r.Name, err)
		}
	}
	return nil
}

// present reports whether name is in containerd and unpacked.
func (b *Builder) present(ctx context.Context, name string) bool {
	img, err := b.client.GetImage(ctx, name)
	if err != nil {
		return false
	}
	ok, err := img.IsUnpacked(ctx, b.cfg.Snapshotter)
	return err == nil && ok
}

// pull fetches ref with containerd and unpacks it.
func (b *Builder) pull(ctx context.Context, ref string, out io.Writer) error {
	done := step(out, "pull %s", ref)
	plain := func(host string) (bool, error) { return slices.Contains(b.cfg.PlainHTTPRegistries, host), nil }
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(plain)),
	})
	_, err := b.client.Pull(ctx, ref,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(b.cfg.Snapshotter),
		containerd.WithResolver(resolver))
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	done()
	b.log.Info("pulled image", "image", ref)
	return nil
}

// Remove deletes the image name from this namespace; a missing image is
// not an error. Its content is garbage-collected once nothing uses it.
func (b *Builder) Remove(ctx context.Context, name string) error {
	err := b.client.ImageService().Delete(b.nsCtx(ctx), name)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", name, err)
	}
	return nil
}

// normalizeRef returns ref fully qualified (docker.io/library/x:latest for
// "x"), as containerd names pulled images; ref itself if it does not parse.
func normalizeRef(ref string) string {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ref
	}
	return n.String()
}
