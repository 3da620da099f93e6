package container

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
)

// BenchmarkStart measures Create -> Start (CNI + task) -> first HTTP 200 from busybox httpd on
// the published port, and reports the phases.
func BenchmarkStart(b *testing.B) {
	d, node := newTestDriver(b, "127.0.1.1")
	ctx := context.Background()
	var create, start, serve time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bench%d", i)
		t0 := time.Now()
		if err := d.Create(ctx, httpdSpec(id, node.image)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		st, err := d.Start(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		waitHTTP(b, fmt.Sprintf("http://127.0.1.1:%d/", st.Ports[0].HostPort), 10*time.Second)
		t3 := time.Now()
		create, start, serve = create+t1.Sub(t0), start+t2.Sub(t1), serve+t3.Sub(t2)
		b.StopTimer()
		if err := d.Remove(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(create.Milliseconds())/n, "create-ms")
	b.ReportMetric(float64(start.Milliseconds())/n, "start-ms")
	b.ReportMetric(float64(serve.Milliseconds())/n, "first200-ms")
}

// BenchmarkTaskStartNoCNI measures containerd alone: container + snapshot, task create and start,
// with no network attached, as the floor BenchmarkStart is compared against.
func BenchmarkTaskStartNoCNI(b *testing.B) {
	d, node := newTestDriver(b, "127.0.1.1")
	ctx := context.Background()
	img, err := d.Client().GetImage(ctx, node.image)
	if err != nil {
		b.Fatal(err)
	}
	if err := img.Unpack(ctx, snapshotter); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("raw%d", i)
		c, err := d.Client().NewContainer(ctx, id, containerd.WithImage(img), containerd.WithSnapshotter(snapshotter),
			containerd.WithNewSnapshot(id, img), containerd.WithNewSpec(oci.WithImageConfig(img)))
		if err != nil {
			b.Fatal(err)
		}
		t, err := c.NewTask(ctx, cio.NullIO)
		if err != nil {
			b.Fatal(err)
		}
		if err := t.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
