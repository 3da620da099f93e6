package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ConfigChange is what AppendDir changes in the base image's config.
type ConfigChange struct {
	Env        []string          // KEY=VALUE, added; replaces the base's value of KEY
	Entrypoint []string          // replaces the base's when set
	Cmd        []string          // replaces the base's when set
	WorkDir    string            // replaces the base's when set
	User       string            // replaces the base's when set
	Labels     map[string]string // added
}

// defaultPath is every image's PATH unless its recipe sets one: without it
// a process started by name ("sh") is not found once a recipe sets any env.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func imageConfig(r Recipe) v1.Config {
	return v1.Config{Env: withPath(r.Env), Entrypoint: r.Entrypoint, Cmd: r.Cmd, WorkingDir: r.WorkDir, User: r.User}
}

// withPath returns env with defaultPath first when it sets no PATH.
func withPath(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return env
		}
	}
	return append([]string{defaultPath}, env...)
}

// importImage packs layers and cfg as an image tarball, streams it into
// containerd under imageName, and unpacks it.
func (b *Builder) importImage(ctx context.Context, imageName string, layers []v1.Layer, cfg v1.Config, out io.Writer) error {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", Config: cfg})
	if err != nil {
		return fmt.Errorf("make image config: %w", err)
	}
	if img, err = mutate.AppendLayers(img, layers...); err != nil {
		return fmt.Errorf("add layers: %w", err)
	}
	tag, err := name.NewTag(imageName)
	if err != nil {
		return fmt.Errorf("image name %q: %w", imageName, err)
	}
	done := step(out, "import %s", imageName)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(tag, img, pw)) }()
	imgs, err := b.client.Import(ctx, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if Import gave up early
	if err != nil {
		return fmt.Errorf("import %s: %w", imageName, err)
	}
	if len(imgs) != 1 {
		return fmt.Errorf("import %s: containerd created %d images, want 1", imageName, len(imgs))
	}
	found := imgs[0]
	if found.Name != imageName {
		// containerd names the image after the tarball's tag, normalised
		// (docker.io/library/... for short names); keep the caller's name.
		if found, err = b.rename(ctx, found, imageName); err != nil {
			return err
		}
	}
	done()
	done = step(out, "unpack %s", imageName)
	if err := containerd.NewImage(b.client, found).Unpack(ctx, b.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", imageName, err)
	}
	done()
	return nil
}

// rename gives img the name newName, replacing any image of that name.
func (b *Builder) rename(ctx context.Context, img images.Image, newName string) (images.Image, error) {
	is := b.client.ImageService()
	old := img.Name
	img.Name = newName
	created, err := is.Create(ctx, img)
	if errdefs.IsAlreadyExists(err) {
		created, err = is.Update(ctx, img)
	}
	if err != nil {
		return images.Image{}, fmt.Errorf("name image %s: %w", newName, err)
	}
	if err := is.Delete(ctx, old); err != nil && !errdefs.IsNotFound(err) {
		return images.Image{}, fmt.Errorf("remove import name %s: %w", old, err)
	}
	return created, nil
}

// AppendDir makes the image newName from base plus one layer holding dir's
// contents at target (an absolute path), with cfg applied to base's config;
// it is imported and unpacked in this namespace. Used for app releases.
func (b *Builder) AppendDir(ctx context.Context, base, dir, target, newName string, cfg ConfigChange) error {
	ctx = b.nsCtx(ctx)
	if !filepath.IsAbs(target) || filepath.Clean(target) != target {
		return fmt.Errorf("append %s to %s: target %q must be an absolute clean path", dir, base, target)
	}
	baseImg, err := b.client.GetImage(ctx, base)
	if err != nil {
		return fmt.Errorf("append to %s: %w", base, err)
	}
	cs := b.client.ContentStore()
	manifest, err := images.Manifest(ctx, cs, baseImg.Target(), platforms.Default())
	if err != nil {
		return fmt.Errorf("read manifest of %s: %w", base, err)
	}
	blob, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return fmt.Errorf("read config of %s: %w", base, err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(blob, &cf); err != nil {
		return fmt.Errorf("parse config of %s: %w", base, err)
	}
	if len(cf.RootFS.DiffIDs) != len(manifest.Layers) {
		return fmt.Errorf("image %s: %d layers but %d diff ids", base, len(manifest.Layers), len(cf.RootFS.DiffIDs))
	}

	tmp, err := os.MkdirTemp(filepath.Join(b.cfg.CacheDir, "tmp"), "append-")
	if err != nil {
		return fmt.Errorf("make temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	layerPath := filepath.Join(tmp, "layer.tar.gz")
	info, err := packLayer(dir, layerPath, tarOptions{prefix: target})
	if err != nil {
		return err
	}

	c := cf.Config
	c.Env = mergeEnv(withPath(c.Env), cfg.Env)
	if cfg.Entrypoint != nil {
		c.Entrypoint = cfg.Entrypoint
	}
	if cfg.Cmd != nil {
		c.Cmd = cfg.Cmd
	}
	if cfg.WorkDir != "" {
		c.WorkingDir = cfg.WorkDir
	}
	if cfg.User != "" {
		c.User = cfg.User
	}
	if len(cfg.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range c.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if err := b.appendInStore(ctx, baseImg.Target(), manifest, cf, layerPath, info, c, newName); err != nil {
		return err
	}
	b.log.Info("appended layer", "base", base, "image", newName, "layer_bytes", info.Size)
	return nil
}

// appendInStore writes only what is new — the layer, the config and the
// manifest — into containerd's content store, next to the base image's
// blobs, and unpacks the one new layer on top of the base's snapshots.
// Exporting and re-importing the whole image would copy every base layer
// (tens of MiB) to add a few KiB.
func (b *Builder) appendInStore(ctx context.Context, baseTarget ocispec.Descriptor, manifest ocispec.Manifest,
	cf v1.ConfigFile, layerPath string, info layerInfo, c v1.Config, newName string) error {
	// Until the image record names the manifest, nothing refers to the new
	// blobs: a lease keeps garbage collection off them (and the unpacked
	// snapshots) meanwhile.
	ctx, done, err := b.client.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("take a lease: %w", err)
	}
	defer done(context.WithoutCancel(ctx))
	cs := b.client.ContentStore()
	layerMediaType := ocispec.MediaTypeImageLayerGzip
	if len(manifest.Layers) > 0 {
		layerMediaType = manifest.Layers[len(manifest.Layers)-1].MediaType
	}
	layerDesc := ocispec.Descriptor{MediaType: layerMediaType, Digest: digest.Digest(info.Digest), Size: info.Size}
	f, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := content.WriteBlob(ctx, cs, "gasper-append-"+info.Digest, f, layerDesc); err != nil {
		return fmt.Errorf("store the new layer: %w", err)
	}

	diffID, err := v1.NewHash(info.DiffID)
	if err != nil {
		return err
	}
	cf.Config = c
	cf.RootFS.DiffIDs = append(append([]v1.Hash(nil), cf.RootFS.DiffIDs...), diffID)
	if len(cf.History) > 0 { // history, when kept, has one entry per layer
		cf.History = append(cf.History, v1.History{Created: v1.Time{Time: time.Now().UTC()}, CreatedBy: "gasper release"})
	}
	configBytes, err := json.Marshal(cf)
	if err != nil {
		return err
	}
	configDesc := ocispec.Descriptor{MediaType: manifest.Config.MediaType, Digest: digest.FromBytes(configBytes), Size: int64(len(configBytes))}
	if err := content.WriteBlob(ctx, cs, "gasper-config-"+configDesc.Digest.String(), bytes.NewReader(configBytes), configDesc); err != nil {
		return fmt.Errorf("store the image config: %w", err)
	}

	m := manifest
	m.Config = configDesc
	m.Layers = append(append([]ocispec.Descriptor(nil), manifest.Layers...), layerDesc)
	manifestBytes, err := json.Marshal(m)
	if err != nil {
		return err
	}
	manifestDesc := ocispec.Descriptor{MediaType: baseTarget.MediaType, Digest: digest.FromBytes(manifestBytes), Size: int64(len(manifestBytes))}
	if m.MediaType != "" {
		manifestDesc.MediaType = m.MediaType
	}
	// The manifest holds its config and layers against garbage collection.
	labels := map[string]string{"containerd.io/gc.ref.content.config": configDesc.Digest.String()}
	for i, l := range m.Layers {
		labels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)] = l.Digest.String()
	}
	if err := content.WriteBlob(ctx, cs, "gasper-manifest-"+manifestDesc.Digest.String(), bytes.NewReader(manifestBytes),
		manifestDesc, content.WithLabels(labels)); err != nil {
		return fmt.Errorf("store the manifest: %w", err)
	}

	is := b.client.ImageService()
	img := images.Image{Name: newName, Target: manifestDesc}
	created, err := is.Create(ctx, img)
	if errdefs.IsAlreadyExists(err) {
		created, err = is.Update(ctx, img)
	}
	if err != nil {
		return fmt.Errorf("name image %s: %w", newName, err)
	}
	if err := containerd.NewImage(b.client, created).Unpack(ctx, b.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", newName, err)
	}
	return nil
}

// mergeEnv returns base with add applied: a KEY in add replaces KEY in base.
func mergeEnv(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}
