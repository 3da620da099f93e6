package container

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroupV2 reports whether the host runs the unified (v2) hierarchy only.
func cgroupV2() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
}

// cgroupFile returns the host path of a container's cgroup file: v2 names it in the unified
// hierarchy, v1 under the controller's own hierarchy.
func cgroupFile(cgroupsPath, controller, v1Name, v2Name string) string {
	if cgroupV2() {
		return filepath.Join(cgroupRoot, cgroupsPath, v2Name)
	}
	return filepath.Join(cgroupRoot, controller, cgroupsPath, v1Name)
}

// oomKills reads how many processes of the cgroup the kernel's OOM killer killed for exceeding the
// cgroup's memory limit. A cgroup that no longer exists reads as 0.
func oomKills(cgroupsPath string) int {
	f, err := os.Open(cgroupFile(cgroupsPath, "memory", "memory.oom_control", "memory.events"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// swapLimitSupported reports whether the kernel accounts swap per cgroup, so a swap limit can be
// set without runc refusing the spec.
func swapLimitSupported() bool {
	if cgroupV2() {
		return true
	}
	_, err := os.Stat(filepath.Join(cgroupRoot, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}
