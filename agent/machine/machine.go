package machine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Facts are the static facts of the machine.
type Facts struct {
	CPUs          int
	MemoryBytes   uint64
	DiskBytes     uint64 // size of the file system holding the state directory
	KernelVersion string
	OS, Arch      string
}

// ReadFacts reads the machine's facts; diskPath names the file system whose
// size is reported (the agent's state directory).
func ReadFacts(diskPath string) (Facts, error) {
	f := Facts{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	mem, err := readMeminfo("/proc/meminfo")
	if err != nil {
		return f, err
	}
	f.MemoryBytes = mem["MemTotal"]
	total, _, err := disk(diskPath)
	if err != nil {
		return f, err
	}
	f.DiskBytes = total
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return f, fmt.Errorf("reading the kernel version: %w", err)
	}
	f.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	return f, nil
}

// Usage is a snapshot of live resource use.
type Usage struct {
	CPUPercent      float64
	MemoryUsedBytes uint64
	DiskUsedBytes   uint64
	Load1           float64
}

// Sampler measures usage; CPU use is the share of non-idle time since the
// previous Sample. It is safe for concurrent use.
type Sampler struct {
	diskPath string

	mu   sync.Mutex
	prev cpuTimes
}

// NewSampler returns a Sampler reporting disk use of the file system holding
// diskPath. It takes a first CPU reading so the first Sample has a baseline.
func NewSampler(diskPath string) *Sampler {
	s := &Sampler{diskPath: diskPath}
	s.prev, _ = readCPUTimes("/proc/stat")
	return s
}

// Sample returns current usage. Fields it cannot read are left zero: a
// heartbeat with partial usage is better than none.
func (s *Sampler) Sample() Usage {
	var u Usage
	if now, err := readCPUTimes("/proc/stat"); err == nil {
		s.mu.Lock()
		u.CPUPercent = cpuPercent(s.prev, now)
		s.prev = now
		s.mu.Unlock()
	}
	if mem, err := readMeminfo("/proc/meminfo"); err == nil && mem["MemTotal"] >= mem["MemAvailable"] {
		u.MemoryUsedBytes = mem["MemTotal"] - mem["MemAvailable"]
	}
	if _, used, err := disk(s.diskPath); err == nil {
		u.DiskUsedBytes = used
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		u.Load1, _ = parseLoad1(b)
	}
	return u
}

// cpuTimes are the aggregate jiffies of /proc/stat's "cpu" line.
type cpuTimes struct{ idle, total uint64 }

func readCPUTimes(path string) (cpuTimes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("reading CPU times: %w", err)
	}
	return parseCPUTimes(b)
}

func parseCPUTimes(b []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("reading CPU times: unexpected first line %q", line)
	}
	var t cpuTimes
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("reading CPU times: %w", err)
		}
		// guest and guest_nice (fields 9 and 10) are already counted in user
		// and nice.
		if i >= 8 {
			break
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}

func cpuPercent(prev, now cpuTimes) float64 {
	if now.total <= prev.total {
		return 0
	}
	dt := float64(now.total - prev.total)
	di := float64(now.idle) - float64(prev.idle)
	p := 100 * (dt - di) / dt
	return min(max(p, 0), 100)
}

// readMeminfo returns /proc/meminfo's values in bytes.
func readMeminfo(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading memory info: %w", err)
	}
	defer f.Close()
	return parseMeminfo(f)
}

func parseMeminfo(r interface{ Read([]byte) (int, error) }) (map[string]uint64, error) {
	out := make(map[string]uint64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		out[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading memory info: %w", err)
	}
	if out["MemTotal"] == 0 {
		return nil, fmt.Errorf("reading memory info: no MemTotal")
	}
	return out, nil
}

func parseLoad1(b []byte) (float64, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("reading the load average: empty")
	}
	return strconv.ParseFloat(fields[0], 64)
}

// disk returns the size and used bytes of the file system holding path.
func disk(path string) (total, used uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("reading disk size of %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	total = st.Blocks * bs
	used = (st.Blocks - st.Bfree) * bs
	return total, used, nil
}
