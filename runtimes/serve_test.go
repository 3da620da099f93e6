package runtimes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/platforms"
	"github.com/containerd/containerd/snapshots"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"golang.org/x/sys/unix"

	"gasper/api"
	"gasper/internal/image"
)

const containerdSocket = "/run/containerd/containerd.sock"

// requireHost skips the test when the machine cannot build and run images,
// unless CI is set: there a missing piece is a broken setup, not a reason.
func requireHost(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"debootstrap", "chroot", "mount", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(containerdSocket); err != nil {
		missing = append(missing, "containerd at "+containerdSocket)
	}
	if !hasDefaultRoute() {
		missing = append(missing, "a network route to the package archive")
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// hasDefaultRoute reads the routing table instead of sending anything.
func hasDefaultRoute() bool {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "00000000" {
			return true
		}
	}
	return false
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestExamplesServe builds every runtime's image with internal/image (the
// layers are cached in the shared image cache, so only the first run on a
// machine pays for them), then builds and starts the runtime's example in
// that image and checks that GET / answers with the runtime's name and the
// GREETING it was given. The app runs in a chroot of the image's snapshot,
// in private mount and network namespaces: it listens on the namespace's
// own loopback, and the test talks to it there.
func TestExamplesServe(t *testing.T) {
	requireHost(t)
	ctx := t.Context()
	client, err := containerd.New(containerdSocket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("needs a running containerd: %v", err)
		}
		t.Fatalf("connect to containerd: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	ns := "gasper-runtimes-test-" + randHex(4)
	nsCtx := namespaces.WithNamespace(ctx, ns)
	t.Cleanup(func() { deleteNamespace(t, client, ns) })

	builder, err := image.NewBuilder(image.Config{Client: client, Namespace: ns, CacheDir: image.DefaultCacheDir})
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	t.Cleanup(func() { t.Logf("images:\n%s", strings.Join(summary, "\n")) })
	for _, name := range api.Runtimes {
		rt, _ := Get(name)
		ok := t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			img, err := builder.Ensure(ctx, rt.Recipe, &out)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("build image: %v\n%s", err, out.String())
			}
			size, err := topLayerSize(nsCtx, client, img)
			if err != nil {
				t.Fatal(err)
			}
			cached := strings.Contains(out.String(), "layer cached") || strings.Contains(out.String(), ": cached")
			summary = append(summary, fmt.Sprintf("  %-8s ensure %6.1fs (layer cached: %-5v)  layer %6.1f MiB compressed  %s",
				name, took.Seconds(), cached, float64(size)/(1<<20), img))
			t.Logf("image %s in %s:\n%s", img, took.Round(time.Millisecond), out.String())
			checkExample(t, nsCtx, client, rt, img)
		})
		if !ok && ctx.Err() != nil {
			break
		}
	}
}

// checkExample mounts img's snapshot, copies examples/NAME to /app in it,
// runs the runtime's build command and then its start command, and checks
// GET /.
func checkExample(t *testing.T, ctx context.Context, client *containerd.Client, rt Runtime, imgName string) {
	img, err := client.GetImage(ctx, imgName)
	if err != nil {
		t.Fatalf("get image: %v", err)
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		t.Fatalf("read image config: %v", err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatalf("read image layers: %v", err)
	}
	// A lease keeps garbage collection (which runs after every image
	// import and delete) from taking the snapshot while it is mounted.
	ctx, done, err := client.WithLease(ctx)
	if err != nil {
		t.Fatalf("take a lease: %v", err)
	}
	t.Cleanup(func() { done(context.WithoutCancel(ctx)) })
	sn := client.SnapshotService(containerd.DefaultSnapshotter)
	key := "runtimes-test-" + rt.Name + "-" + randHex(4)
	mounts, err := sn.Prepare(ctx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatalf("prepare snapshot: %v", err)
	}
	t.Cleanup(func() {
		if err := sn.Remove(context.WithoutCancel(ctx), key); err != nil {
			t.Errorf("remove snapshot %s: %v", key, err)
		}
	})
	root := t.TempDir()
	if err := mount.All(mounts, root); err != nil {
		t.Fatalf("mount snapshot: %v", err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(root, 0); err != nil {
			t.Errorf("unmount %s: %v", root, err)
		}
	})
	appDir := filepath.Join(root, "app")
	if err := copyTree(filepath.Join("..", "examples", rt.Name), appDir); err != nil {
		t.Fatal(err)
	}

	greeting := "gasper-test-" + randHex(4)
	env := mergeEnv(spec.Config.Env, rt.Env, []string{
		fmt.Sprintf("PORT=%d", rt.Port),
		"GREETING=" + greeting,
	})

	if rt.BuildCmd != "" {
		start := time.Now()
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		var out bytes.Buffer
		cmd := chrootCmd(bctx, root, env, rt.BuildCmd)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("build command: %v\n%s", err, out.String())
		}
		t.Logf("built the example in %s", time.Since(start).Round(time.Millisecond))
	}
	// What the build leaves under /app is all a release keeps.
	if want, ok := buildOutputs[rt.Name]; ok {
		if _, err := os.Stat(filepath.Join(appDir, want)); err != nil {
			t.Errorf("after the build command: %v", err)
		}
	}

	startCmd := StartCommand(rt, appDir)
	var out lockedBuffer
	cmd := chrootCmd(ctx, root, env, startCmd)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start command: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	defer stop()

	// The namespace files stay valid while the process lives; open it now
	// so a crash shows up as "exited", not as a missing file.
	nsFile, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	if err != nil {
		t.Fatalf("open the app's network namespace: %v", err)
	}
	defer nsFile.Close()

	deadline := time.Now().Add(90 * time.Second)
	var body string
	var lastErr error
	for {
		select {
		case err := <-exited:
			exited <- err // for stop
			t.Fatalf("start command %q exited (%v) before serving:\n%s", startCmd, err, out.String())
		default:
		}
		body, lastErr = getInNetns(nsFile, rt.Port)
		if lastErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET / on port %d in the app's namespace: still failing after 90s: %v\noutput:\n%s", rt.Port, lastErr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("GET / -> %q", strings.TrimSpace(body))
	for _, want := range []string{rt.Name + " ", "hello=" + greeting} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / = %q, want it to contain %q", body, want)
		}
	}
}

// buildOutputs names, per runtime, a file its build command must leave in
// /app.
var buildOutputs = map[string]string{
	"python3": ".venv/bin/python",
	"golang":  ".gasper/app",
	"rust":    ".gasper/app",
}

// chrootScript runs in private mount and network namespaces: it mounts
// /proc and /dev into the root, brings up loopback and runs the command
// with sh -c in /app. The kernel drops the mounts and the namespace when
// the last process in them exits.
const chrootScript = `set -e
mount --make-rprivate /
mount -t proc proc "$1/proc"
mount --bind /dev "$1/dev"
ip link set lo up
exec chroot "$1" /bin/sh -c 'cd /app && exec /bin/sh -c "$1"' sh "$2"`

// chrootCmd returns the command that runs cmdline in root, in its own
// process group (killed with it) and namespaces.
func chrootCmd(ctx context.Context, root string, env []string, cmdline string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", chrootScript, "sh", root, cmdline)
	// PATH for the host tools of the script comes first; chroot then runs
	// the command with the image's and runtime's environment.
	cmd.Env = mergeEnv([]string{"PATH=" + standardPath}, env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// getInNetns does GET / against 127.0.0.1:port inside the network
// namespace ns. The socket is made on an OS thread switched into ns; that
// thread is never unlocked, so it exits with the goroutine rather than
// carrying the namespace back to other goroutines.
func getInNetns(ns *os.File, port int) (string, error) {
	type result struct {
		body string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter netns: %w", err)}
			return
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			ch <- result{err: fmt.Errorf("read response: %w", err)}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s: %s", resp.Status, b)
		}
		ch <- result{string(b), err}
	}()
	r := <-ch
	return r.body, r.err
}

// mergeEnv joins KEY=VALUE lists; a later list's value for a key wins.
func mergeEnv(lists ...[]string) []string {
	var out []string
	idx := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// copyTree copies the regular files and directories of src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}

// topLayerSize returns the compressed size of img's last layer: the
// runtime's own, on top of the shared base.
func topLayerSize(ctx context.Context, client *containerd.Client, name string) (int64, error) {
	img, err := client.ImageService().Get(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("get image %s: %w", name, err)
	}
	m, err := images.Manifest(ctx, client.ContentStore(), img.Target, platforms.Default())
	if err != nil {
		return 0, fmt.Errorf("read manifest of %s: %w", name, err)
	}
	if len(m.Layers) == 0 {
		return 0, fmt.Errorf("image %s has no layers", name)
	}
	return m.Layers[len(m.Layers)-1].Size, nil
}

// deleteNamespace removes everything the test put in ns, then ns itself.
func deleteNamespace(t *testing.T, client *containerd.Client, ns string) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	imgs, err := client.ImageService().List(ctx)
	if err != nil {
		t.Errorf("list images in %s: %v", ns, err)
	}
	for _, img := range imgs {
		if err := client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			t.Errorf("delete image %s: %v", img.Name, err)
		}
	}
	// Garbage collection removes unreferenced snapshots and content; what
	// it leaves (a snapshot still being released) goes by hand.
	sn := client.SnapshotService(containerd.DefaultSnapshotter)
	for range 5 {
		var keys []string
		sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			keys = append(keys, i.Name)
			return nil
		})
		for _, k := range keys {
			sn.Remove(ctx, k) // parents fail until their children are gone
		}
		var blobs []string
		client.ContentStore().Walk(ctx, func(i content.Info) error {
			blobs = append(blobs, i.Digest.String())
			return nil
		})
		for _, d := range blobs {
			client.ContentStore().Delete(ctx, digest.Digest(d))
		}
		err = client.NamespaceService().Delete(ctx, ns)
		if err == nil {
			return
		}
	}
	t.Errorf("delete namespace %s: %v", ns, err)
}

// lockedBuffer is a bytes.Buffer safe for the writes of a running command
// and the test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
