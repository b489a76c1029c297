package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
)

// These tests need a node like the ones Krill's users run: pure cgroup v2
// with systemd as PID 1. This host is cgroup v1 without systemd, so they
// skip here and run in the Debian 12 VM (test/vm), where krilld's default
// cgroup driver "auto" becomes systemd.

func needSystemdV2(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		t.Skip("needs a pure cgroup v2 host")
	}
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1")
	}
}

// slicePod runs a pod the way kubelet does with cgroupDriver: systemd: its
// cgroup parent is a slice name, kubepods-burstable-pod<uid>.slice. It
// returns the pod's ID, config and the slice's cgroup directory. Cleanup
// removes the pod, then stops the slice (kubelet's job on a real node).
func (e *env) slicePod(name string) (string, *runtime.PodSandboxConfig, string) {
	e.t.Helper()
	slice := "kubepods-burstable-pod" + name + ".slice"
	dir := "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/" + slice
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: name + "-uid"},
		Hostname:     name + "-host",
		LogDirectory: filepath.Join(e.dir, "logs", name),
		Linux:        &runtime.LinuxPodSandboxConfig{CgroupParent: slice},
	}
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		e.t.Fatalf("run pod %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: r.PodSandboxId})
		e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId})
		exec.Command("systemctl", "stop", slice).Run()
	})
	return r.PodSandboxId, cfg, dir
}

func readCgroupFile(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestSystemdCgroupDriver: with the systemd driver, RuntimeConfig says so; a
// cgroupfs parent is refused naming the mismatch; the pause container and a
// container with limits run in krill-<id>.scope units in kubelet's pod slice,
// with the limits in the scope's v2 files; the container sees only its own
// cgroup (0::/, a private cgroup namespace); stats and pod stats read the
// scope and the slice; UpdateContainerResources changes the files; removing
// the container and the pod leaves no scope behind.
func TestSystemdCgroupDriver(t *testing.T) {
	needSystemdV2(t)
	e := newEnv(t)

	rc, err := e.rt.RuntimeConfig(e.ctx(), &runtime.RuntimeConfigRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d := rc.GetLinux().GetCgroupDriver(); d != runtime.CgroupDriver_SYSTEMD {
		t.Fatalf("RuntimeConfig cgroup driver %s, want SYSTEMD (auto on a systemd v2 host)", d)
	}

	_, err = e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: &runtime.PodSandboxConfig{
		Metadata: &runtime.PodSandboxMetadata{Name: "fs", Namespace: "e2e", Uid: "fs-uid"},
		Linux:    &runtime.LinuxPodSandboxConfig{CgroupParent: "/kubepods/burstable/podfs"},
	}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "systemd cgroup driver") {
		t.Fatalf("cgroupfs parent under the systemd driver: %v, want InvalidArgument naming the mismatch", err)
	}

	podID, podCfg, podDir := e.slicePod("sd1")
	pauseScope := filepath.Join(podDir, "krill-"+podID+".scope")
	if _, err := os.Stat(pauseScope); err != nil {
		t.Fatalf("pause scope: %v", err)
	}

	res := &runtime.LinuxContainerResources{CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 64 << 20}
	id := e.limited(podID, podCfg, res)
	scope := filepath.Join(podDir, "krill-"+id+".scope")
	for file, want := range map[string]string{
		"memory.max": strconv.Itoa(64 << 20),
		"cpu.max":    "50000 100000",
		// What Krill's cgroups package says runc writes for 512 shares.
		"cpu.weight": strconv.FormatUint(cgroups.CPUSharesToWeight(512), 10),
	} {
		if got := readCgroupFile(t, scope, file); got != want {
			t.Errorf("%s/%s = %q, want %q", scope, file, got, want)
		}
	}
	if got := e.exec(id, "cat", "/proc/self/cgroup"); got != "0::/" {
		t.Errorf("container's /proc/self/cgroup = %q, want 0::/ (a private cgroup namespace)", got)
	}

	e.exec(id, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	sr, err := e.rt.ContainerStats(e.ctx(), &runtime.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	var usec uint64
	for _, line := range strings.Split(readCgroupFile(t, scope, "cpu.stat"), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			usec, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if got := sr.Stats.GetCpu().GetUsageCoreNanoSeconds().GetValue(); got == 0 || got > usec*1000 {
		t.Errorf("stats cpu %d ns, the scope's cpu.stat says %d us", got, usec)
	}
	if ws := sr.Stats.GetMemory().GetWorkingSetBytes().GetValue(); ws == 0 {
		t.Error("stats working set 0")
	}
	ps, err := e.rt.PodSandboxStats(e.ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	if ps.GetStats().GetLinux().GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 {
		t.Errorf("pod stats from the pod slice: %v", ps.GetStats().GetLinux())
	}

	res.MemoryLimitInBytes = 128 << 20
	if _, err := e.rt.UpdateContainerResources(e.ctx(), &runtime.UpdateContainerResourcesRequest{ContainerId: id, Linux: res}); err != nil {
		t.Fatal(err)
	}
	if got := readCgroupFile(t, scope, "memory.max"); got != strconv.Itoa(128<<20) {
		t.Errorf("after update memory.max = %s", got)
	}
	if l := e.status(id).GetResources().GetLinux(); l.GetMemoryLimitInBytes() != 128<<20 {
		t.Errorf("status resources after update %+v", l)
	}

	if _, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemoveContainer(e.ctx(), &runtime.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scope); !os.IsNotExist(err) {
		t.Errorf("container scope after RemoveContainer: %v", err)
	}
	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pauseScope); !os.IsNotExist(err) {
		t.Errorf("pause scope after RemovePodSandbox: %v", err)
	}
}

// TestSystemdOOMKilled: under the systemd driver the scope's cgroup is gone
// as soon as its last process exits, yet a container killed by the OOM
// killer is still reported OOMKilled with exit code 137.
func TestSystemdOOMKilled(t *testing.T) {
	needSystemdV2(t)
	e := newEnv(t)
	podID, podCfg, _ := e.slicePod("sdoom")
	st := e.waitExited(e.memoryHog(podID, podCfg), 60*time.Second)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Fatalf("state %s reason %q code %d, want EXITED OOMKilled 137", st.State, st.Reason, st.ExitCode)
	}
}
