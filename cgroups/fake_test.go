package cgroups

import (
	cgv3 "github.com/containerd/cgroups/v3"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// writeTree creates files (path relative to root -> content) in a fake
// cgroup tree.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const fakeCtr = "/kubepods/burstable/pod1/ctr1"

func fakeV2(t *testing.T) (*Manager, string) {
	t.Helper()
	root := t.TempDir()
	c := "kubepods/burstable/pod1/ctr1/"
	writeTree(t, root, map[string]string{
		"cgroup.controllers":                      "cpuset cpu io memory hugetlb pids rdma misc\n",
		"kubepods/memory.swap.max":                "max\n",
		c + "cpu.stat":                            "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 250000\n",
		c + "memory.current":                      "10485760\n",
		c + "memory.max":                          "134217728\n",
		c + "memory.peak":                         "20971520\n",
		c + "memory.swap.current":                 "4096\n",
		c + "memory.stat":                         "anon 6291456\nfile 4194304\nfile_mapped 1048576\nactive_file 1048576\ninactive_file 3145728\npgfault 1234\npgmajfault 5\n",
		c + "memory.events":                       "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
		c + "pids.current":                        "3\n",
		c + "pids.max":                            "max\n",
		"kubepods/burstable/pod2/x/memory.events": "oom_kill 0\n",
	})
	m, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	return m, root
}

func TestModeDetection(t *testing.T) {
	v2, _ := fakeV2(t)
	if v2.Mode() != ModeV2 || !v2.hugetlb || !v2.swap || v2.realFS {
		t.Errorf("fake v2: mode %s hugetlb %v swap %v realFS %v", v2.Mode(), v2.hugetlb, v2.swap, v2.realFS)
	}

	v1 := t.TempDir()
	writeTree(t, v1, map[string]string{"memory/cgroup.procs": "", "cpu/cgroup.procs": "", "systemd/cgroup.procs": ""})
	m, err := New(v1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() != ModeV1 || m.swap || m.hugetlb || len(m.hierarchies) != 3 {
		t.Errorf("fake v1: mode %s swap %v hugetlb %v hierarchies %v", m.Mode(), m.swap, m.hugetlb, m.hierarchies)
	}

	hybrid := t.TempDir()
	writeTree(t, hybrid, map[string]string{
		"memory/memory.memsw.limit_in_bytes": "9223372036854771712",
		"cpu/cgroup.procs":                   "",
		"cpuacct/cgroup.procs":               "",
		"unified/cgroup.controllers":         "hugetlb\n",
	})
	// co-mounted controllers show up as symlinks and must count once
	if err := os.Symlink("cpu", filepath.Join(hybrid, "cpu,cpuacct-link")); err != nil {
		t.Fatal(err)
	}
	m, err = New(hybrid)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(hybrid, "cpu"), filepath.Join(hybrid, "cpuacct"), filepath.Join(hybrid, "memory"), filepath.Join(hybrid, "unified")}
	if m.Mode() != ModeHybrid || !m.swap || m.hugetlb || !slices.Equal(m.hierarchies, want) {
		t.Errorf("fake hybrid: mode %s swap %v hugetlb %v hierarchies %v", m.Mode(), m.swap, m.hugetlb, m.hierarchies)
	}

	if _, err := New(t.TempDir()); !errdefs.IsNotFound(err) {
		t.Errorf("empty root: %v, want not found", err)
	}
}

func TestHostMode(t *testing.T) {
	m, err := New("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	// containerd/cgroups detects the mode by filesystem magic, not by files:
	// an independent opinion.
	want := map[cgv3.CGMode]string{cgv3.Legacy: ModeV1, cgv3.Hybrid: ModeHybrid, cgv3.Unified: ModeV2}[cgv3.Mode()]
	if m.Mode() != want || !m.realFS {
		t.Fatalf("host: mode %s (containerd/cgroups says %s) realFS %v", m.Mode(), want, m.realFS)
	}
	if m.Mode() == ModeV2 {
		return
	}
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "pids"} {
		real, _ := filepath.EvalSymlinks(filepath.Join("/sys/fs/cgroup", ctrl))
		if !slices.Contains(m.hierarchies, real) {
			t.Errorf("hierarchy %s missing from %v", ctrl, m.hierarchies)
		}
	}
	if m.Mode() == ModeHybrid && !slices.Contains(m.hierarchies, "/sys/fs/cgroup/unified") {
		t.Errorf("unified hierarchy missing from %v", m.hierarchies)
	}
	// runc 1.1.5 outside pure v2 writes hugepage limits only through a v1
	// hugetlb hierarchy (this host has none: hugetlb sits in unified).
	res := ToOCI(burstable, 0)
	res.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}
	res.Unified = map[string]string{"memory.high": "1"}
	m.DropUnsupported(res)
	if (res.HugepageLimits == nil) != !exists("/sys/fs/cgroup/hugetlb") || res.Unified != nil {
		t.Errorf("DropUnsupported on host left %+v", res)
	}
	if (res.Memory.Swap != nil) != exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") {
		t.Errorf("swap limit %v kept/dropped against the host's swap accounting", res.Memory.Swap)
	}
}

func TestDropUnsupported(t *testing.T) {
	v2, _ := fakeV2(t)
	res := ToOCI(burstable, 0)
	res.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB"}}
	res.Unified = map[string]string{"memory.high": "1"}
	if d := v2.DropUnsupported(res); d != nil || res.Memory.Swap == nil || res.HugepageLimits == nil || res.Unified == nil {
		t.Errorf("v2 with everything dropped %v", d)
	}

	v1 := t.TempDir()
	writeTree(t, v1, map[string]string{"memory/cgroup.procs": ""})
	m, err := New(v1)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.DropUnsupported(res); len(d) != 3 || res.Memory.Swap != nil || res.HugepageLimits != nil || res.Unified != nil {
		t.Errorf("bare v1 dropped %v, left %+v", d, res)
	}
	if res.Memory.Limit == nil || *res.Memory.Limit != 134217728 || res.CPU == nil {
		t.Errorf("DropUnsupported touched supported fields: %+v", res)
	}
	if m.DropUnsupported(nil) != nil {
		t.Error("nil resources")
	}
}

func TestStatsV2Fake(t *testing.T) {
	m, _ := fakeV2(t)
	before := time.Now()
	s, err := m.Stats(fakeCtr)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Timestamp:     s.Timestamp,
		CPUUsageNanos: 1500000000, CPUUserNanos: 1000000000, CPUSystemNanos: 500000000,
		CPUPeriods: 40, CPUThrottledPeriods: 3, CPUThrottledNanos: 250000000,
		MemoryUsage: 10485760, MemoryMaxUsage: 20971520,
		MemoryWorkingSet: 10485760 - 3145728,
		MemoryRSS:        6291456, MemoryCache: 4194304, MemoryMappedFile: 1048576,
		MemoryActiveFile: 1048576, MemoryInactiveFile: 3145728,
		MemorySwap: 4096, PageFaults: 1234, MajorPageFaults: 5,
		MemoryLimit: 134217728,
		PidsCurrent: 3, PidsLimit: 0,
		OOMKills: 1,
	}
	if *s != want {
		t.Errorf("Stats:\n got %+v\nwant %+v", *s, want)
	}
	if s.Timestamp.Before(before) {
		t.Errorf("timestamp %v before the call", s.Timestamp)
	}

	if _, err := m.Stats("/kubepods/nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing cgroup: %v", err)
	}
	if _, err := m.Stats("/"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("root cgroup: %v", err)
	}
	// ".." cannot climb out of the hierarchy
	if _, err := m.Stats("/../../kubepods/burstable/pod1/ctr1"); err != nil {
		t.Errorf("cleaned path: %v", err)
	}
}

func TestWorkingSetFloor(t *testing.T) {
	m, root := fakeV2(t)
	writeTree(t, root, map[string]string{
		"kubepods/burstable/pod1/ctr1/memory.current": "100\n",
		"kubepods/burstable/pod1/ctr1/memory.max":     "max\n",
	})
	s, err := m.Stats(fakeCtr)
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryWorkingSet != 0 || s.MemoryLimit != 0 {
		t.Errorf("working set %d (want 0: inactive_file > usage), limit %d (want 0: max)", s.MemoryWorkingSet, s.MemoryLimit)
	}
}

func TestOOMKilledV2Fake(t *testing.T) {
	m, _ := fakeV2(t)
	if got, err := m.OOMKilled(fakeCtr); err != nil || !got {
		t.Errorf("ctr1: %v %v, want true", got, err)
	}
	if got, err := m.OOMKilled("/kubepods/burstable/pod2/x"); err != nil || got {
		t.Errorf("pod2/x: %v %v, want false", got, err)
	}
	if _, err := m.OOMKilled("/kubepods/gone"); !errdefs.IsNotFound(err) {
		t.Errorf("gone: %v", err)
	}
}

func TestWatchOOMV2Fake(t *testing.T) {
	m, root := fakeV2(t)
	events := filepath.Join(root, "kubepods/burstable/pod1/ctr1/memory.events")
	ch, stop, err := m.WatchOOM(fakeCtr)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// memory.events changing without a new oom_kill is not an OOM kill.
	writeTree(t, root, map[string]string{"kubepods/burstable/pod1/ctr1/memory.events": "max 8\noom 2\noom_kill 1\n"})
	select {
	case <-ch:
		t.Fatal("notified without a new oom_kill")
	case <-time.After(200 * time.Millisecond):
	}

	if err := os.WriteFile(events, []byte("max 9\noom 3\noom_kill 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed instead of notifying")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OOM notification after oom_kill grew")
	}

	// Removing the cgroup ends the watch: the channel closes.
	if err := m.Remove(fakeCtr); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("notified on removal")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end when the cgroup was removed")
	}
	stop() // after the watch ended by itself: must not hang
}

func TestWatchOOMStop(t *testing.T) {
	m, _ := fakeV2(t)
	ch, stop, err := m.WatchOOM(fakeCtr)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after stop")
	}
	if _, _, err := m.WatchOOM("/kubepods/gone"); !errdefs.IsNotFound(err) {
		t.Errorf("watch of a missing cgroup: %v", err)
	}
}

func TestRemoveFake(t *testing.T) {
	m, root := fakeV2(t)
	if err := m.Remove("/kubepods/burstable/pod1"); err != nil { // has a child cgroup
		t.Fatal(err)
	}
	if exists(filepath.Join(root, "kubepods/burstable/pod1")) {
		t.Fatal("pod cgroup still there")
	}
	if !exists(filepath.Join(root, "kubepods/burstable/pod2/x")) {
		t.Fatal("Remove took a sibling")
	}
	if err := m.Remove("/kubepods/burstable/pod1"); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := m.Remove(""); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Remove(\"\") = %v", err)
	}
	if err := m.Remove("/.."); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Remove(/..) = %v", err)
	}
}

func TestStatsV1Fake(t *testing.T) {
	root := t.TempDir()
	c := "/krill/c1/"
	writeTree(t, root, map[string]string{
		"memory/memory.memsw.limit_in_bytes":             "9223372036854771712\n",
		"memory/memory.memsw.usage_in_bytes":             "0\n",
		"memory" + c + "memory.stat":                     "cache 300\nrss 700\ntotal_cache 3000\ntotal_rss 7000\ntotal_mapped_file 100\ntotal_inactive_file 2000\ntotal_active_file 1000\ntotal_pgfault 50\ntotal_pgmajfault 2\n",
		"memory" + c + "memory.oom_control":              "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
		"memory" + c + "memory.usage_in_bytes":           "10000\n",
		"memory" + c + "memory.max_usage_in_bytes":       "12000\n",
		"memory" + c + "memory.failcnt":                  "9\n",
		"memory" + c + "memory.limit_in_bytes":           "9223372036854771712\n",
		"memory" + c + "memory.memsw.usage_in_bytes":     "10500\n",
		"memory" + c + "memory.memsw.max_usage_in_bytes": "12500\n",
		"memory" + c + "memory.memsw.failcnt":            "0\n",
		"memory" + c + "memory.memsw.limit_in_bytes":     "9223372036854771712\n",
		"cpuacct" + c + "cpuacct.usage":                  "2000000000\n",
		"cpuacct" + c + "cpuacct.stat":                   "user 150\nsystem 50\n",
		"cpuacct" + c + "cpuacct.usage_percpu":           "1500000000 500000000\n",
		"cpu" + c + "cpu.stat":                           "nr_periods 10\nnr_throttled 2\nthrottled_time 3000000\nnr_bursts 0\nburst_time 0\n",
		"pids" + c + "pids.current":                      "5\n",
		"pids" + c + "pids.max":                          "100\n",
	})
	m, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Stats("/krill/c1")
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Timestamp:     s.Timestamp,
		CPUUsageNanos: 2000000000, CPUUserNanos: 1500000000, CPUSystemNanos: 500000000, // 100 ticks/s
		CPUPeriods: 10, CPUThrottledPeriods: 2, CPUThrottledNanos: 3000000,
		MemoryUsage: 10000, MemoryMaxUsage: 12000, MemoryWorkingSet: 8000,
		MemoryRSS: 7000, MemoryCache: 3000, MemoryMappedFile: 100,
		MemoryActiveFile: 1000, MemoryInactiveFile: 2000,
		MemorySwap: 500, MemoryFailcnt: 9, PageFaults: 50, MajorPageFaults: 2,
		MemoryLimit: 0, PidsCurrent: 5, PidsLimit: 100, OOMKills: 4,
	}
	if *s != want {
		t.Errorf("Stats:\n got %+v\nwant %+v", *s, want)
	}
	if ok, err := m.OOMKilled("/krill/c1"); !ok || err != nil {
		t.Errorf("OOMKilled = %v, %v", ok, err)
	}
	if err := m.Remove("/krill/c1"); err != nil {
		t.Fatal(err)
	}
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "pids"} {
		if exists(filepath.Join(root, ctrl, "krill/c1")) {
			t.Errorf("%s cgroup left behind", ctrl)
		}
	}
	if _, err := m.Stats("/krill/c1"); !errdefs.IsNotFound(err) {
		t.Errorf("Stats after Remove: %v", err)
	}
}
