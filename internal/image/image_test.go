package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"gasper/internal/registrytest"
)

const testSocket = "/run/containerd/containerd.sock"

// testCacheDir is kept between runs so reruns are fast;
// GASPER_IMAGE_TEST_CACHE points a run at another one (e.g. to time a cold build).
var testCacheDir = func() string {
	if d := os.Getenv("GASPER_IMAGE_TEST_CACHE"); d != "" {
		return d
	}
	return "/var/lib/gasper/images-test"
}()

// skipOrFail skips when the machine cannot run the test, except in CI where
// a missing prerequisite is a broken setup.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set but %s", reason)
	}
	t.Skip(reason)
}

type testEnv struct {
	b      *Builder
	client *containerd.Client
	ctx    context.Context // carries the test's namespace
}

// newTestEnv gives the test a Builder on its own containerd namespace,
// removed with everything in it when the test ends.
func newTestEnv(t *testing.T, opts ...func(*Config)) *testEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "image builds need root")
	}
	if _, err := os.Stat(testSocket); err != nil {
		skipOrFail(t, "containerd is not running at "+testSocket)
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		skipOrFail(t, "debootstrap is not installed")
	}
	client, err := containerd.New(testSocket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		skipOrFail(t, "cannot connect to containerd: "+err.Error())
	}
	ns := "gasper-imgtest-" + randHex(4)
	t.Cleanup(func() {
		deleteNamespace(t, client, ns)
		client.Close()
	})
	cfg := Config{CacheDir: testCacheDir, Client: client, Namespace: ns}
	for _, o := range opts {
		o(&cfg)
	}
	b, err := NewBuilder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{b: b, client: client, ctx: namespaces.WithNamespace(context.Background(), ns)}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// deleteNamespace removes the test's images, leases and then the namespace,
// retrying while garbage collection catches up.
func deleteNamespace(t *testing.T, client *containerd.Client, ns string) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	is := client.ImageService()
	imgs, _ := is.List(ctx)
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, img.Name, opts...); err != nil {
			t.Errorf("cleanup: delete image %s: %v", img.Name, err)
		}
	}
	ls := client.LeasesService()
	leases, _ := ls.List(ctx)
	for _, l := range leases {
		ls.Delete(ctx, l)
	}
	var err error
	for ctx.Err() == nil {
		if err = client.NamespaceService().Delete(ctx, ns); err == nil || errdefs.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond) // waiting for GC; bounded by ctx
	}
	t.Errorf("cleanup: delete namespace %s: %v", ns, err)
}

// viewImage mounts a read-only view of the unpacked image and returns its
// root; unmounted when the test ends.
func viewImage(t *testing.T, env *testEnv, name string) string {
	t.Helper()
	img, err := env.client.GetImage(env.ctx, name)
	if err != nil {
		t.Fatalf("get image %s: %v", name, err)
	}
	diffIDs, err := img.RootFS(env.ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := env.client.SnapshotService("overlayfs")
	key := "view-" + randHex(6)
	mounts, err := sn.View(env.ctx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatalf("view snapshot of %s: %v", name, err)
	}
	dir := t.TempDir()
	if err := mount.All(mounts, dir); err != nil {
		sn.Remove(env.ctx, key)
		t.Fatalf("mount snapshot of %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(dir, 0); err != nil {
			t.Errorf("unmount view: %v", err)
		}
		sn.Remove(env.ctx, key)
	})
	return dir
}

func imageSpec(t *testing.T, env *testEnv, name string) ocispec.ImageConfig {
	t.Helper()
	img, err := env.client.GetImage(env.ctx, name)
	if err != nil {
		t.Fatalf("get image %s: %v", name, err)
	}
	spec, err := img.Spec(env.ctx)
	if err != nil {
		t.Fatalf("read config of %s: %v", name, err)
	}
	return spec.Config
}

// busyboxRecipe is the small image most tests share (cached between runs).
var busyboxRecipe = Recipe{
	Name:     "test-busybox",
	Packages: []string{"busybox"},
	Files:    []File{{Path: "/srv/www/index.html", Mode: 0o640, Content: "hello from gasper\n"}},
	Env:      []string{"GREETING=hi", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
	Cmd:      []string{"/bin/busybox", "httpd", "-f", "-h", "/srv/www"},
	WorkDir:  "/srv/www",
}

func ensure(t *testing.T, env *testEnv, r Recipe) (string, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(env.ctx, 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	name, err := env.b.Ensure(ctx, r, &out)
	took := time.Since(start)
	t.Logf("Ensure(%s) took %s; output:\n%s", r.Name, took, out.String())
	if err != nil {
		t.Fatalf("Ensure(%s): %v", r.Name, err)
	}
	return name, out.String(), took
}

func TestEnsureBuildsImage(t *testing.T) {
	env := newTestEnv(t)
	name, _, _ := ensure(t, env, busyboxRecipe)
	if want := busyboxRecipe.ImageName(); name != want {
		t.Errorf("Ensure returned %q, want %q", name, want)
	}

	cfg := imageSpec(t, env, name)
	got := struct {
		Env, Cmd []string
		WorkDir  string
	}{cfg.Env, cfg.Cmd, cfg.WorkingDir}
	want := struct {
		Env, Cmd []string
		WorkDir  string
	}{busyboxRecipe.Env, busyboxRecipe.Cmd, busyboxRecipe.WorkDir}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image config (-want +got):\n%s", diff)
	}

	root := viewImage(t, env, name)
	b, err := os.ReadFile(filepath.Join(root, "srv/www/index.html"))
	if err != nil || string(b) != "hello from gasper\n" {
		t.Errorf("recipe file: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "srv/www/index.html")); err == nil && fi.Mode().Perm() != 0o640 {
		t.Errorf("recipe file mode %v, want 0640", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/bin/busybox missing from the image: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/policy-rc.d")); err != nil {
		t.Errorf("policy-rc.d missing from the base: %v", err)
	}
	for _, leftover := range []string{"etc/resolv.conf", "etc/hostname"} {
		if _, err := os.Lstat(filepath.Join(root, leftover)); err == nil {
			t.Errorf("image contains host leftover /%s", leftover)
		}
	}
	lists, _ := os.ReadDir(filepath.Join(root, "var/lib/apt/lists"))
	if len(lists) != 0 {
		t.Errorf("image contains apt lists: %v", lists)
	}
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	bins, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/*.bin"))
	if len(debs)+len(bins) != 0 {
		t.Errorf("image contains apt caches: %v %v", debs, bins)
	}
	hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts"))
	if host, _ := os.Hostname(); host != "localhost" && strings.Contains(string(hosts), host) {
		t.Errorf("/etc/hosts names the build host %q:\n%s", host, hosts)
	}
}

func TestEnsureCacheHit(t *testing.T) {
	env := newTestEnv(t)
	ensure(t, env, busyboxRecipe) // builds only if no earlier test or run did

	// Already in containerd: nothing to do at all.
	_, out, took := ensure(t, env, busyboxRecipe)
	if !strings.Contains(out, "cached") {
		t.Errorf("second Ensure output does not say cached:\n%s", out)
	}
	if took > time.Second {
		t.Errorf("second Ensure took %s, want well under a second", took)
	}
	t.Logf("cache hit (image in containerd): %s", took)

	// Layers on disk but a namespace that lacks the image: import only.
	env2 := newTestEnv(t)
	_, out, took = ensure(t, env2, busyboxRecipe)
	for _, s := range []string{"debootstrap", "apt-get"} {
		if strings.Contains(out, s) {
			t.Errorf("Ensure in a new namespace ran %s instead of importing the cached layer:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "layer cached, importing") {
		t.Errorf("Ensure in a new namespace did not import from the cache:\n%s", out)
	}
	t.Logf("cache hit (import from disk): %s", took)
}

func TestEnsureConcurrentCallsBuildOnce(t *testing.T) {
	env := newTestEnv(t)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 3)
	errs := make([]error, 3)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(env.ctx, 10*time.Minute)
			defer cancel()
			_, errs[i] = env.b.Ensure(ctx, busyboxRecipe, &outs[i])
		}()
	}
	wg.Wait()
	imports := 0
	for i := range outs {
		if errs[i] != nil {
			t.Errorf("Ensure %d: %v", i, errs[i])
		}
		out := outs[i].String()
		if strings.Contains(out, "waiting for build of") {
			// A joined caller sees the builder's output too.
			if !strings.Contains(out, "==> import") {
				t.Errorf("joined caller %d saw no build output:\n%s", i, out)
			}
			continue
		}
		if strings.Contains(out, "==> import") {
			imports++
		}
	}
	if imports != 1 {
		for i := range outs {
			t.Logf("output %d:\n%s", i, outs[i].String())
		}
		t.Errorf("%d callers imported the image, want exactly 1", imports)
	}
}

func TestEnsureWhiteouts(t *testing.T) {
	env := newTestEnv(t)
	base, err := env.b.ensureBase(env.ctx, DefaultSuite, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// A directory of the base replaced by a new one must hide all old entries.
	oldConf, _ := os.ReadDir(filepath.Join(base.rootfs, "etc/apt/apt.conf.d"))
	if len(oldConf) == 0 {
		t.Fatal("base has no /etc/apt/apt.conf.d entries to hide")
	}
	r := Recipe{
		Name:        "test-whiteout",
		ExtraSuites: []string{"bookworm-backports"},
		Run: []string{
			"rm /etc/debian_version",
			"rm -r /usr/share/doc/debconf",
			"rm -r /etc/apt/apt.conf.d && mkdir /etc/apt/apt.conf.d && echo 'APT::Quiet \"1\";' > /etc/apt/apt.conf.d/99gasper",
		},
	}
	name, _, _ := ensure(t, env, r)
	root := viewImage(t, env, name)
	for _, gone := range []string{"etc/debian_version", "usr/share/doc/debconf"} {
		if _, err := os.Lstat(filepath.Join(base.rootfs, gone)); err != nil {
			t.Fatalf("base lacks /%s, the test proves nothing: %v", gone, err)
		}
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("/%s deleted by the recipe is still in the image", gone)
		}
	}
	ents, err := os.ReadDir(filepath.Join(root, "etc/apt/apt.conf.d"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"99gasper"}, names); err != nil || diff != "" {
		t.Errorf("replaced directory (-want +got):\n%s %v", diff, err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/os-release")); err != nil {
		t.Errorf("untouched base file missing: %v", err)
	}
	extra, err := os.ReadFile(filepath.Join(root, "etc/apt/sources.list.d/gasper-extra.list"))
	if err != nil || !strings.Contains(string(extra), " bookworm-backports ") {
		t.Errorf("extra suite source: %q, %v", extra, err)
	}
}

func TestEnsureOtherSuite(t *testing.T) {
	env := newTestEnv(t)
	r := Recipe{Name: "test-bullseye", Suite: "bullseye", Packages: []string{"busybox"}, Cmd: []string{"/bin/busybox", "sh"}}
	name, _, _ := ensure(t, env, r)
	root := viewImage(t, env, name)
	v, err := os.ReadFile(filepath.Join(root, "etc/debian_version"))
	if err != nil || !strings.HasPrefix(string(v), "11.") {
		t.Errorf("/etc/debian_version = %q, %v; want a bullseye (11.x) image", v, err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil {
		t.Errorf("busybox missing: %v", err)
	}
}

func TestEnsureBrokenRecipe(t *testing.T) {
	env := newTestEnv(t)
	r := Recipe{Name: "test-broken", Packages: []string{"gasper-no-such-package"}}
	ctx, cancel := context.WithTimeout(env.ctx, 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	_, err := env.b.Ensure(ctx, r, &out)
	t.Logf("output:\n%s", out.String())
	if err == nil {
		t.Fatal("Ensure of a recipe with a nonexistent package succeeded")
	}
	const aptErr = "Unable to locate package gasper-no-such-package"
	if !strings.Contains(err.Error(), aptErr) {
		t.Errorf("error does not carry apt's message %q: %v", aptErr, err)
	}
	if !strings.Contains(out.String(), aptErr) {
		t.Errorf("output does not carry apt's message %q", aptErr)
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer mi.Close()
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		if strings.Contains(sc.Text(), testCacheDir) {
			t.Errorf("mount left behind: %s", sc.Text())
		}
	}
	if _, err := os.Stat(env.b.recipeDir(r.Hash())); !os.IsNotExist(err) {
		t.Errorf("failed build left a cache entry: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(testCacheDir, "recipes", ".tmp-*")); len(tmps) != 0 {
		t.Errorf("failed build left temp dirs: %v", tmps)
	}
	if _, err := env.client.GetImage(env.ctx, r.ImageName()); err == nil {
		t.Errorf("failed build created image %s", r.ImageName())
	}
}

func TestAppendDir(t *testing.T) {
	env := newTestEnv(t)
	base, _, _ := ensure(t, env, busyboxRecipe)
	app := t.TempDir()
	files := map[string]string{"index.html": "<h1>app</h1>\n", "static/app.js": "console.log(1)\n"}
	for p, c := range files {
		os.MkdirAll(filepath.Join(app, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(app, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("index.html", filepath.Join(app, "home.html")); err != nil {
		t.Fatal(err)
	}
	name := "gasper.local/app/test-append:r" + randHex(3)
	change := ConfigChange{Env: []string{"GREETING=hello", "PORT=8080"}, Cmd: []string{"/bin/busybox", "httpd", "-f", "-h", "/app"}, WorkDir: "/app"}
	ctx, cancel := context.WithTimeout(env.ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := env.b.AppendDir(ctx, base, app, "/app", name, change); err != nil {
		t.Fatalf("AppendDir: %v", err)
	}
	t.Logf("AppendDir took %s", time.Since(start))

	cfg := imageSpec(t, env, name)
	wantEnv := []string{"GREETING=hello", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PORT=8080"}
	if diff := cmp.Diff(wantEnv, cfg.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(change.Cmd, cfg.Cmd); diff != "" {
		t.Errorf("cmd (-want +got):\n%s", diff)
	}
	if cfg.WorkingDir != "/app" {
		t.Errorf("workdir %q, want /app", cfg.WorkingDir)
	}
	root := viewImage(t, env, name)
	for p, c := range files {
		b, err := os.ReadFile(filepath.Join(root, "app", p))
		if err != nil || string(b) != c {
			t.Errorf("/app/%s: %q, %v; want %q", p, b, err, c)
		}
	}
	if l, err := os.Readlink(filepath.Join(root, "app/home.html")); err != nil || l != "index.html" {
		t.Errorf("/app/home.html symlink: %q, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil {
		t.Errorf("base content missing from appended image: %v", err)
	}

	if err := env.b.Remove(ctx, name); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := env.client.GetImage(env.ctx, name); err == nil {
		t.Errorf("image %s still there after Remove", name)
	}
	if err := env.b.Remove(ctx, name); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestEnsurePullsFromRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	// A one-file image, pushed to the test's own registry on loopback.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := "pulled over loopback\n"
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux", Config: v1.Config{Cmd: []string{"/hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	ref := host + "/test/hello:v1"
	registrytest.Push(t, srv.URL, "test/hello", "v1", img)

	r := Recipe{Name: "test-pull", Ref: ref}
	// Without the plain-HTTP exception the pull must fail (it speaks TLS).
	strict := newTestEnv(t)
	ctx, cancel := context.WithTimeout(strict.ctx, time.Minute)
	defer cancel()
	if _, err := strict.b.Ensure(ctx, r, io.Discard); err == nil {
		t.Error("pull over HTTPS from a plain-HTTP registry succeeded")
	}

	env := newTestEnv(t, func(c *Config) { c.PlainHTTPRegistries = []string{host} })
	got, out, _ := ensure(t, env, r)
	if got != ref {
		t.Errorf("Ensure returned %q, want %q", got, ref)
	}
	if !strings.Contains(out, "pull "+ref) {
		t.Errorf("output does not report the pull:\n%s", out)
	}
	if cfg := imageSpec(t, env, ref); !cmp.Equal(cfg.Cmd, []string{"/hello"}) {
		t.Errorf("pulled config Cmd = %v", cfg.Cmd)
	}
	root := viewImage(t, env, ref)
	if b, err := os.ReadFile(filepath.Join(root, "hello.txt")); err != nil || string(b) != content {
		t.Errorf("hello.txt in pulled image: %q, %v", b, err)
	}
	_, out, _ = ensure(t, env, r)
	if !strings.Contains(out, "cached") {
		t.Errorf("second Ensure of a pulled image did not use it:\n%s", out)
	}
}

// signalWriter closes seen the first time the output contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

func TestEnsureCancelled(t *testing.T) {
	env := newTestEnv(t)
	r := Recipe{Name: "test-cancel-" + randHex(3), Run: []string{"touch /gasper-cancel-marker; sleep 300"}}
	seen := make(chan struct{})
	out := &signalWriter{want: "==> run: touch", seen: seen}
	ctx, cancel := context.WithCancel(env.ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := env.b.Ensure(ctx, r, out); errc <- err }()
	select {
	case <-seen:
	case err := <-errc:
		t.Fatalf("Ensure ended before its Run step: %v\n%s", err, out.buf.String())
	case <-time.After(5 * time.Minute):
		t.Fatal("timed out waiting for the Run step to start")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Ensure after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ensure did not return within 30s of its context being cancelled")
	}
	if _, err := os.Stat(env.b.recipeDir(r.Hash())); !os.IsNotExist(err) {
		t.Errorf("cancelled build left a cache entry: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(testCacheDir, "recipes", ".tmp-"+r.Hash()[:16]+"-*")); len(tmps) != 0 {
		t.Errorf("cancelled build left temp dirs: %v", tmps)
	}
	// The chroot's processes must be gone, not orphaned.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "gasper-cancel-marker") {
			t.Errorf("build process still running after cancel: %s %q", p, b)
		}
	}
}
