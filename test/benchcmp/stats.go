package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// p50 is the median of ds (the mean of the two middle values for an even
// count); 0 for none.
func p50(ds []time.Duration) time.Duration { return median(ds) }

// median is the median of xs (mean of the two middle values for an even
// count); 0 for none.
func median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ms is d in (fractional) milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// parseCPUUsage reads cgroup v1 cpuacct.usage: the CPU time, user and
// system, of every task that ever ran in the cgroup or below it, in
// nanoseconds (the kernel charges each ancestor when it charges a task,
// so the time of removed child cgroups and exited tasks stays counted).
func parseCPUUsage(b []byte) (time.Duration, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cpuacct.usage: %w", err)
	}
	return time.Duration(n), nil
}

// cpuUsage is the cpuacct.usage of the cgroup directory dir.
func cpuUsage(dir string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0, err
	}
	return parseCPUUsage(b)
}

// parsePss returns the Pss line of /proc/PID/smaps_rollup, in KiB: the
// process's resident memory with each shared page divided among the
// processes that map it, so the figures of several processes add up.
func parsePss(b []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "Pss:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no Pss line in smaps_rollup")
}

// pssKiB is the PSS of process pid in KiB; 0 when it is gone.
func pssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	n, _ := parsePss(b)
	return n
}

// parsePIDs reads a cgroup.procs file: one PID a line.
func parsePIDs(b []byte) ([]int, error) {
	var pids []int
	for _, l := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(l)
		if err != nil {
			return nil, fmt.Errorf("cgroup.procs: %q: %w", l, err)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

// cgroupPIDs lists the processes directly in cgroup directory dir (not
// in its children).
func cgroupPIDs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	pids, _ := parsePIDs(b)
	return pids
}

// cgroupTreePIDs lists the processes in dir and every cgroup below it.
func cgroupTreePIDs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			pids = append(pids, cgroupPIDs(p)...)
		}
		return nil
	})
	return pids
}
