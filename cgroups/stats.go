package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
)

// Stats is one sample of a cgroup's counters. Cumulative values only grow
// while the cgroup lives. A limit of 0 means unlimited.
type Stats struct {
	Timestamp time.Time // when the sample was taken

	CPUUsageNanos       uint64 // cumulative CPU time (v1 cpuacct.usage, v2 usage_usec*1000)
	CPUUserNanos        uint64
	CPUSystemNanos      uint64
	CPUPeriods          uint64 // CFS enforcement periods elapsed
	CPUThrottledPeriods uint64
	CPUThrottledNanos   uint64

	MemoryUsage        uint64 // v1 memory.usage_in_bytes, v2 memory.current
	MemoryMaxUsage     uint64 // v1 memory.max_usage_in_bytes, v2 memory.peak
	MemoryWorkingSet   uint64 // usage - inactive file cache, floored at 0 (as cAdvisor)
	MemoryRSS          uint64 // v1 total_rss, v2 anon
	MemoryCache        uint64 // v1 total_cache, v2 file
	MemoryMappedFile   uint64
	MemoryActiveFile   uint64
	MemoryInactiveFile uint64
	MemorySwap         uint64 // swap in use (v1: memsw usage - usage)
	MemoryFailcnt      uint64 // v1 only: times usage hit the limit
	PageFaults         uint64
	MajorPageFaults    uint64
	MemoryLimit        uint64 // 0 = unlimited
	MemoryKernel       uint64 // kernel memory charged: v1 memory.kmem.usage_in_bytes, v2 memory.stat kernel

	PidsCurrent uint64 // tasks (threads) in the cgroup
	PidsLimit   uint64 // 0 = unlimited

	OOMKills uint64 // processes killed by the OOM killer in this cgroup
}

// Stats samples cgroup path. It fails with errdefs.ErrNotFound when the
// cgroup does not exist (its memory cgroup on v1, its directory on v2).
func (m *Manager) Stats(path string) (*Stats, error) {
	rel, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	var s *Stats
	if m.mode == ModeV2 {
		s, err = m.statsV2(rel)
	} else {
		s, err = m.statsV1(rel)
	}
	if err != nil {
		return nil, err
	}
	s.Timestamp = time.Now()
	return s, nil
}

// statsV1 reads the memory, cpuacct, cpu and pids hierarchies through
// containerd/cgroups' v1 controllers. Only the memory cgroup is required;
// a controller the host lacks leaves its fields at zero.
func (m *Manager) statsV1(rel string) (*Stats, error) {
	if !exists(m.v1Dir("memory", rel)) {
		return nil, fmt.Errorf("cgroup %s: %w", rel, errdefs.ErrNotFound)
	}
	// kmem accounting files are deprecated (and gone in some kernels); swap
	// files exist only with swap accounting.
	mem := cgroup1.NewMemory(m.root, cgroup1.IgnoreModules("kmem", "kmem.tcp"), cgroup1.OptionalSwap())
	met := &v1stats.Metrics{CPU: &v1stats.CPUStat{Usage: &v1stats.CPUUsage{}, Throttling: &v1stats.Throttle{}}}
	if err := mem.Stat(rel, met); err != nil {
		return nil, statErr(rel, "memory", err)
	}
	for _, c := range []interface {
		Stat(string, *v1stats.Metrics) error
	}{cgroup1.NewCpuacct(m.root), cgroup1.NewCpu(m.root), cgroup1.NewPids(m.root)} {
		if err := c.Stat(rel, met); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, statErr(rel, "cpu", err)
		}
	}

	ms := met.Memory
	s := &Stats{
		CPUUsageNanos:       met.CPU.Usage.Total,
		CPUUserNanos:        met.CPU.Usage.User,
		CPUSystemNanos:      met.CPU.Usage.Kernel,
		CPUPeriods:          met.CPU.Throttling.Periods,
		CPUThrottledPeriods: met.CPU.Throttling.ThrottledPeriods,
		CPUThrottledNanos:   met.CPU.Throttling.ThrottledTime,

		MemoryUsage:    ms.Usage.Usage,
		MemoryMaxUsage: ms.Usage.Max,
		// total_* values include child cgroups, which matters for pod
		// cgroups; for a container they equal the local ones.
		MemoryRSS:          ms.TotalRSS,
		MemoryCache:        ms.TotalCache,
		MemoryMappedFile:   ms.TotalMappedFile,
		MemoryActiveFile:   ms.TotalActiveFile,
		MemoryInactiveFile: ms.TotalInactiveFile,
		MemoryFailcnt:      ms.Usage.Failcnt,
		PageFaults:         ms.TotalPgFault,
		MajorPageFaults:    ms.TotalPgMajFault,
		MemoryLimit:        limitOrZero(ms.Usage.Limit),
		OOMKills:           met.MemoryOomControl.GetOomKill(),
	}
	s.MemoryWorkingSet = workingSet(s.MemoryUsage, s.MemoryInactiveFile)
	// Read directly: the kmem module is ignored above because its limit
	// files are gone on recent kernels, while the usage file remains.
	s.MemoryKernel = readUint(filepath.Join(m.v1Dir("memory", rel), "memory.kmem.usage_in_bytes"))
	if ms.Swap.Usage > ms.Usage.Usage { // memsw counts memory + swap
		s.MemorySwap = ms.Swap.Usage - ms.Usage.Usage
	}
	if met.Pids != nil {
		s.PidsCurrent, s.PidsLimit = met.Pids.Current, limitOrZero(met.Pids.Limit)
	}
	return s, nil
}

// statsV2 reads one cgroup2 directory through containerd/cgroups' v2
// manager, which tolerates missing files (a controller not enabled there).
func (m *Manager) statsV2(rel string) (*Stats, error) {
	if !exists(filepath.Join(m.v2root, rel)) {
		return nil, fmt.Errorf("cgroup %s: %w", rel, errdefs.ErrNotFound)
	}
	cg, err := cgroup2.Load(rel, cgroup2.WithMountpoint(m.v2root))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %v: %w", rel, err, errdefs.ErrInvalidArgument)
	}
	met, err := cg.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents | cgroup2.StatPids)
	if err != nil {
		return nil, statErr(rel, "v2", err)
	}
	s := &Stats{}
	if c := met.CPU; c != nil {
		s.CPUUsageNanos = c.UsageUsec * 1000
		s.CPUUserNanos = c.UserUsec * 1000
		s.CPUSystemNanos = c.SystemUsec * 1000
		s.CPUPeriods = c.NrPeriods
		s.CPUThrottledPeriods = c.NrThrottled
		s.CPUThrottledNanos = c.ThrottledUsec * 1000
	}
	if ms := met.Memory; ms != nil {
		s.MemoryUsage = ms.Usage
		s.MemoryMaxUsage = ms.MaxUsage
		s.MemoryRSS = ms.Anon
		s.MemoryCache = ms.File
		s.MemoryMappedFile = ms.FileMapped
		s.MemoryActiveFile = ms.ActiveFile
		s.MemoryInactiveFile = ms.InactiveFile
		s.MemorySwap = ms.SwapUsage
		s.PageFaults = ms.Pgfault
		s.MajorPageFaults = ms.Pgmajfault
		s.MemoryLimit = limitOrZero(ms.UsageLimit)
		s.MemoryWorkingSet = workingSet(s.MemoryUsage, s.MemoryInactiveFile)
	}
	// containerd/cgroups does not parse memory.stat "kernel" (kernels
	// since 5.18 sum slab, stacks, page tables and the like into it).
	if kv, err := readKV(filepath.Join(m.v2root, rel, "memory.stat")); err == nil {
		s.MemoryKernel = kv["kernel"]
	}
	if ev := met.MemoryEvents; ev != nil {
		s.OOMKills = ev.OomKill
	}
	if p := met.Pids; p != nil {
		s.PidsCurrent, s.PidsLimit = p.Current, limitOrZero(p.Limit)
	}
	return s, nil
}

// OOMKilled reports whether the OOM killer has killed a process in cgroup
// path: oom_kill in memory.oom_control (v1; kernels since 4.13) or in
// memory.events (v2). The cgroup must still exist, so ask before removing it
// (runc delete removes it); WatchOOM reports kills as they happen.
func (m *Manager) OOMKilled(path string) (bool, error) {
	n, err := m.oomKills(path)
	return n > 0, err
}

func (m *Manager) oomKills(path string) (uint64, error) {
	rel, err := cleanPath(path)
	if err != nil {
		return 0, err
	}
	file := filepath.Join(m.v1Dir("memory", rel), "memory.oom_control")
	if m.mode == ModeV2 {
		file = filepath.Join(m.v2root, rel, "memory.events")
	}
	kv, err := readKV(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("cgroup %s: %w", rel, errdefs.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", rel, err)
	}
	return kv["oom_kill"], nil
}

// readKV parses a flat-keyed cgroup file ("key value" per line), skipping
// lines that are not.
func readKV(file string) (map[string]uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			kv[k] = n
		}
	}
	return kv, sc.Err()
}

// readUint reads a single-number cgroup file; a missing or malformed file
// reads as 0, for counters a kernel may not offer.
func readUint(file string) uint64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// workingSet is what cAdvisor (and so kubelet eviction) calls the working
// set: usage minus the inactive file cache the kernel can drop first.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}

// limitOrZero maps "no limit" to 0. v1 reports an unlimited memory cgroup as
// a page-rounded LONG_MAX (9223372036854771712); containerd/cgroups reports
// v2 "max" as MaxUint64 and v1 pids "max" as 0.
func limitOrZero(v uint64) uint64 {
	if v >= math.MaxInt64-(1<<20) {
		return 0
	}
	return v
}

func statErr(rel, what string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		// The cgroup vanished between the existence check and the read.
		return fmt.Errorf("cgroup %s: %s stats: %w: %w", rel, what, err, errdefs.ErrNotFound)
	}
	return fmt.Errorf("cgroup %s: %s stats: %w", rel, what, err)
}
