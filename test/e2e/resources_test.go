package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestResourceLimitsOnHost: a container with kubelet's mapping of
// cpu 250m/500m and memory 64Mi/128Mi (request/limit) has those limits in
// its v1 cgroup files on the host; UpdateContainerResources changes them
// and ContainerStatus reports the new ones; ContainerStats agrees with the
// cgroup's own counters.
func TestResourceLimitsOnHost(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("limits")
	res := &runtime.LinuxContainerResources{
		CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 128 << 20,
	}
	id := e.limited(podID, podCfg, res)
	cg := "/krill-e2e/limits/" + id // the pod's cgroup parent + container ID
	read := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cg, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "134217728"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "256"},
	} {
		if got := read(c.ctrl, c.file); got != c.want {
			t.Errorf("%s = %s, want %s", c.file, got, c.want)
		}
	}

	// Update: the host files and ContainerStatus follow.
	res.MemoryLimitInBytes, res.CpuQuota = 256<<20, 20000
	if _, err := e.rt.UpdateContainerResources(e.ctx(), &runtime.UpdateContainerResourcesRequest{ContainerId: id, Linux: res}); err != nil {
		t.Fatal(err)
	}
	if got := read("memory", "memory.limit_in_bytes"); got != "268435456" {
		t.Errorf("after update memory.limit_in_bytes = %s", got)
	}
	if got := read("cpu", "cpu.cfs_quota_us"); got != "20000" {
		t.Errorf("after update cpu.cfs_quota_us = %s", got)
	}
	st := e.status(id)
	if l := st.GetResources().GetLinux(); l.GetMemoryLimitInBytes() != 256<<20 || l.GetCpuQuota() != 20000 {
		t.Errorf("status resources %+v", l)
	}

	// Stats come from the same cgroup.
	e.exec(id, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	sr, err := e.rt.ContainerStats(e.ctx(), &runtime.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	usage, _ := strconv.ParseUint(read("cpuacct", "cpuacct.usage"), 10, 64)
	got := sr.Stats.GetCpu().GetUsageCoreNanoSeconds().GetValue()
	if got == 0 || got > usage {
		t.Errorf("stats cpu %d ns, cgroup says %d", got, usage)
	}
	mem, _ := strconv.ParseUint(read("memory", "memory.usage_in_bytes"), 10, 64)
	ws := sr.Stats.GetMemory().GetWorkingSetBytes().GetValue()
	if ws == 0 || ws > mem+(1<<20) {
		t.Errorf("stats working set %d, cgroup usage %d", ws, mem)
	}
}

// TestOOMKilledReason: a memory hog over its limit is killed by the
// kernel and reported as OOMKilled with exit code 137.
func TestOOMKilledReason(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("oom")
	st := e.waitExited(e.memoryHog(podID, podCfg), 30*time.Second)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Fatalf("state %s reason %q code %d, want EXITED OOMKilled 137", st.State, st.Reason, st.ExitCode)
	}
}
