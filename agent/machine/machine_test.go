package machine

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUTimesAndPercent(t *testing.T) {
	before, err := parseCPUTimes([]byte("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseCPUTimes([]byte("cpu  250 0 150 800 100 0 0 0 50 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cpuTimes{idle: 800, total: 1000}, before, cmp.AllowUnexported(cpuTimes{})); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	// 300 jiffies passed, 100 of them idle: 66.7% busy.
	if got := cpuPercent(before, after); math.Abs(got-200.0/3) > 0.01 {
		t.Errorf("cpuPercent = %v, want 66.67", got)
	}
	if got := cpuPercent(after, after); got != 0 {
		t.Errorf("cpuPercent with no time passed = %v, want 0", got)
	}
	if _, err := parseCPUTimes([]byte("intr 1 2 3\n")); err == nil {
		t.Error("parseCPUTimes accepted a file without a cpu line")
	}
}

func TestParseMeminfo(t *testing.T) {
	got, err := parseMeminfo(strings.NewReader("MemTotal:       2048 kB\nMemFree:  10 kB\nMemAvailable:   1024 kB\nHugePages_Total:       0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"MemTotal": 2048 * 1024, "MemFree": 10 * 1024, "MemAvailable": 1024 * 1024, "HugePages_Total": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseMeminfo(strings.NewReader("nothing\n")); err == nil {
		t.Error("parseMeminfo accepted a file without MemTotal")
	}
}

func TestReadFactsAndSampleOnThisMachine(t *testing.T) {
	dir := t.TempDir()
	f, err := ReadFacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.CPUs != runtime.NumCPU() || f.MemoryBytes == 0 || f.DiskBytes == 0 || f.KernelVersion == "" || f.OS != "linux" {
		t.Errorf("facts look wrong: %+v", f)
	}
	s := NewSampler(dir)
	u := s.Sample()
	if u.MemoryUsedBytes == 0 || u.MemoryUsedBytes > f.MemoryBytes || u.DiskUsedBytes == 0 || u.DiskUsedBytes > f.DiskBytes {
		t.Errorf("usage looks wrong: %+v (facts %+v)", u, f)
	}
	if u.CPUPercent < 0 || u.CPUPercent > 100 || u.Load1 < 0 {
		t.Errorf("usage out of range: %+v", u)
	}
}
