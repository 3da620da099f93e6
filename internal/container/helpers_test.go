package container

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/images"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const testSocket = "/run/containerd/containerd.sock"

// requireContainerd skips (or fails under CI) when no containerd answers on the socket.
func requireContainerd(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(testSocket); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("containerd not running at %s (CI is set, so this is a failure)", testSocket)
		}
		t.Skip("containerd not running; `make test` starts it")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("container tests need root")
		}
		t.Skip("container tests need root; `make test` runs them as root")
	}
}

func randomName(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// testNode is one node's worth of driver settings, unique per test.
type testNode struct {
	cfg   Config
	image string
}

// releaseOnce frees the port rules earlier, crashed runs of these tests left behind.
var releaseOnce sync.Once

func newTestNode(t testing.TB, hostIP string) *testNode {
	t.Helper()
	requireContainerd(t)
	releaseOnce.Do(func() {
		c, err := Connect(context.Background(), testSocket, "default")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := ReleaseStalePorts(context.Background(), c, func(n string) bool { return strings.HasPrefix(n, "gasper-test-") }); err != nil {
			t.Fatal(err)
		}
	})
	suffix := randomName(6)
	return &testNode{cfg: Config{
		Socket:    testSocket,
		Namespace: "gasper-test-" + suffix,
		StateDir:  t.TempDir(),
		Bridge:    "gct" + suffix,
		Subnet:    fmt.Sprintf("10.213.%d.0/24", rand.IntN(250)+1),
		HostIP:    hostIP,
		DNS:       []string{"127.0.0.1"}, // never queried: tests only talk to loopback
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}}
}

// newTestDriver starts a driver for a fresh node, imports the busybox test image, and removes
// everything the test made when it ends.
func newTestDriver(t testing.TB, hostIP string) (*Driver, *testNode) {
	t.Helper()
	node := newTestNode(t, hostIP)
	ctx := context.Background()
	d, err := New(ctx, node.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		d.Close()
		cleanupNode(t, node)
	})
	node.image = importBusybox(t, d)
	return d, node
}

// cleanupNode removes a test node's containers, images, namespace and bridge through a driver
// of its own, so it works whatever the test did to its drivers.
func cleanupNode(t testing.TB, node *testNode) {
	ctx := context.Background()
	d, err := New(ctx, node.cfg)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer d.Close()
	all, err := d.List(ctx, nil)
	if err != nil {
		t.Errorf("cleanup: list: %v", err)
	}
	for _, st := range all {
		if err := d.Remove(ctx, st.ID); err != nil {
			t.Errorf("cleanup: remove %s: %v", st.ID, err)
		}
	}
	is := d.Client().ImageService()
	imgs, _ := is.List(ctx)
	for _, img := range imgs {
		if err := is.Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			t.Errorf("cleanup: delete image %s: %v", img.Name, err)
		}
	}
	if err := d.Client().NamespaceService().Delete(ctx, node.cfg.Namespace); err != nil {
		t.Errorf("cleanup: delete namespace %s: %v", node.cfg.Namespace, err)
	}
	if _, err := os.Stat("/sys/class/net/" + node.cfg.Bridge); err == nil {
		if out, err := exec.Command("ip", "link", "del", node.cfg.Bridge).CombinedOutput(); err != nil {
			t.Errorf("cleanup: deleting bridge %s: %v: %s", node.cfg.Bridge, err, out)
		}
	}
}

// importBusybox packs the host's static busybox as a one-layer image and imports it.
func importBusybox(t testing.TB, d *Driver) string {
	t.Helper()
	bin := "/bin/busybox"
	if _, err := os.Stat(bin); err != nil {
		// The Debian package is the only source of a static busybox on these machines.
		if out, err := exec.Command("apt-get", "install", "-y", "busybox-static").CombinedOutput(); err != nil {
			t.Fatalf("%s missing and apt-get install -y busybox-static failed: %v\n%s", bin, err, out)
		}
	}
	layerTar, err := busyboxLayer(bin)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = []string{"PATH=/bin", "FROM_IMAGE=yes"}
	cf.Config.Cmd = []string{"httpd", "-f", "-p", "8080", "-h", "/www"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("gasper-test/busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(tag, img, &buf); err != nil {
		t.Fatal(err)
	}
	imported, err := d.Client().Import(context.Background(), &buf)
	if err != nil {
		t.Fatalf("importing busybox image: %v", err)
	}
	if len(imported) != 1 {
		t.Fatalf("imported %d images, want 1", len(imported))
	}
	return imported[0].Name
}

func busyboxLayer(bin string) ([]byte, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, dir := range []string{"bin", "etc", "www", "proc", "sys", "dev"} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: now})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: now})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(data)), ModTime: now})
	tw.Write(data)
	page := []byte("hello from busybox\n")
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "www/index.html", Mode: 0o644, Size: int64(len(page)), ModTime: now})
	tw.Write(page)
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", ModTime: now})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// waitHTTP polls url until it answers 200 or the deadline passes, and returns the body.
func waitHTTP(t testing.TB, url string, timeout time.Duration) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("waiting %v for 200 from %s: %v", timeout, url, lastErr)
	return ""
}

// waitState polls Status until the container reaches state.
func waitState(t testing.TB, d *Driver, id, state string, timeout time.Duration) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st Status
	var err error
	for time.Now().Before(deadline) {
		st, err = d.Status(context.Background(), id)
		if err == nil && st.State == state {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waiting %v for %s to be %s: last status %+v, err %v", timeout, id, state, st, err)
	return st
}

// cgroupValue reads a file of the container's cgroup on the host.
func cgroupValue(t testing.TB, d *Driver, id, controller, v1Name, v2Name string) string {
	t.Helper()
	c, err := d.load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cgroupFile(spec.Linux.CgroupsPath, controller, v1Name, v2Name))
	if err != nil {
		t.Fatalf("reading cgroup of %s: %v", id, err)
	}
	return strings.TrimSpace(string(b))
}

// leftovers lists what a removed container could leave behind on the host.
func leftovers(t testing.TB, d *Driver, id string) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	if _, err := d.Client().LoadContainer(ctx, id); err == nil {
		left = append(left, "containerd container")
	}
	if _, err := d.Client().SnapshotService(snapshotter).Stat(ctx, id); err == nil {
		left = append(left, "snapshot")
	}
	for _, p := range []string{d.logPath(id), d.netnsPath(id), d.filesDir(id),
		filepath.Join("/var/lib/cni/results", d.cfg.Namespace+"-"+id+"-eth0")} {
		if _, err := os.Stat(p); err == nil {
			left = append(left, p)
		}
	}
	if d.hasIPAllocation(id) {
		left = append(left, "host-local address")
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), `id: \"`+id+`\"`) {
		left = append(left, "iptables rules")
	}
	return left
}
