package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/krill-runtime/krill/test/testregistry"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestStatsOfStoppedContainers: ContainerStats and ListContainerStats of a
// container that is not running (exited, or created and never started)
// answer without error, with its attributes and writable layer but no CPU
// or memory usage (containerd reports none, its task being gone; CRI-O
// leaves such containers out of the list); a running one has both.
// ContainerStatus of an exited container keeps its exit. An exited
// container's rootfs is unmounted just after it exits, as containerd does when
// it deletes the task (RemoveContainer then has only files and records left),
// while its writes stay counted in its writable layer until it is removed.
func TestStatsOfStoppedContainers(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("stats")
	running := e.container(podID, podCfg, "running", []string{"sleep", "3600"})
	exited := e.container(podID, podCfg, "exited", []string{"sh", "-c", "echo x > /written; exit 3"})
	created, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg,
		Config: &runtime.ContainerConfig{Metadata: &runtime.ContainerMetadata{Name: "created"}, Image: &runtime.ImageSpec{Image: e.image}, Command: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !testregistry.WaitFor(30*time.Second, func() bool { return e.status(exited).State == runtime.ContainerState_CONTAINER_EXITED }) {
		t.Fatal("container did not exit")
	}
	if st := e.status(exited); st.ExitCode != 3 || st.Reason != "Error" || st.FinishedAt == 0 {
		t.Errorf("exited status: code %d reason %q finished %d", st.ExitCode, st.Reason, st.FinishedAt)
	}
	containers := filepath.Join(e.dir, "state", "containers")
	// The exit is visible as soon as it is recorded; the runtime's state and
	// the rootfs are released just after it, off the caller's path, so the
	// unmount is awaited (bounded) rather than expected at the same instant.
	var still []string
	if !testregistry.WaitFor(10*time.Second, func() bool { still = mountsUnder(t, filepath.Join(containers, exited)); return len(still) == 0 }) {
		t.Errorf("exited container's rootfs still mounted 10 s after its exit: %v", still)
	}
	if m := mountsUnder(t, filepath.Join(containers, running)); len(m) == 0 {
		t.Errorf("running container's rootfs is not mounted under %s", filepath.Join(containers, running))
	}
	check := func(id string, st *runtime.ContainerStats, wantUsage bool) {
		t.Helper()
		if st.GetAttributes().GetId() != id || st.GetWritableLayer().GetUsedBytes() == nil || st.GetWritableLayer().GetTimestamp() == 0 {
			t.Errorf("%s: attributes %v writable layer %v", id[:12], st.GetAttributes(), st.GetWritableLayer())
		}
		if got := st.GetCpu() != nil && st.GetMemory() != nil; got != wantUsage {
			t.Errorf("%s: cpu %v memory %v, want usage: %v", id[:12], st.GetCpu(), st.GetMemory(), wantUsage)
		}
	}
	for id, want := range map[string]bool{running: true, exited: false, created.ContainerId: false} {
		r, err := e.rt.ContainerStats(e.ctx(), &runtime.ContainerStatsRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStats %s: %v", id[:12], err)
		}
		check(id, r.Stats, want)
		if id == exited && r.Stats.GetWritableLayer().GetUsedBytes().GetValue() == 0 {
			t.Errorf("exited container's writable layer counts none of what it wrote (/written): %v", r.Stats.GetWritableLayer())
		}
	}
	l, err := e.rt.ListContainerStats(e.ctx(), &runtime.ListContainerStatsRequest{Filter: &runtime.ContainerStatsFilter{PodSandboxId: podID}})
	if err != nil || len(l.Stats) != 3 {
		t.Fatalf("ListContainerStats: %d entries, %v", len(l.GetStats()), err)
	}
	for _, st := range l.Stats {
		check(st.Attributes.Id, st, st.Attributes.Id == running)
	}
}
