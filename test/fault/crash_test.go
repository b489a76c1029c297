package fault

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCrashDuringCNIAddWithHostPort: krilld dies while CNI ADD runs, after
// portmap installed its DNAT rules but before libcni cached the result.
// Recovery must DEL with the port mappings (from the intent written before
// ADD): no rule, IP, veth or netns may stay.
func TestCrashDuringCNIAddWithHostPort(t *testing.T) {
	e := newEnv(t, options{})
	e.hook("portmap.ADD", killAfter)
	_, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: e.podConfig("hostport", 30080)})
	if err == nil {
		t.Fatal("RunPodSandbox survived a killed krilld")
	}
	e.reap()
	if !e.fired("portmap.ADD") {
		t.Fatal("hook did not run")
	}
	e.start()
	e.checkLeaks()
	// The same pod can be made now, and its rules work as usual.
	e.pod("after")
}

// TestCrashAtEveryPodStep kills krilld at each runc and CNI verb of
// RunPodSandbox in turn; after each restart nothing may be left over, and
// the retried pod runs.
func TestCrashAtEveryPodStep(t *testing.T) {
	e := newEnv(t, options{})
	for _, h := range []string{"runc.run", "bridge.ADD", "host-local.ADD"} {
		for _, how := range []string{killBefore, killAfter} {
			e.hook(h, how)
			_, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: e.podConfig("step")})
			if err == nil {
				t.Fatalf("%s: RunPodSandbox survived a killed krilld", h)
			}
			e.reap()
			e.start()
			e.checkLeaks()
			os.Remove(filepath.Join(e.hooks, h+".fired"))
		}
	}
	id, cfg := e.pod("step")
	e.container(id, cfg, "c", "sleep", "3600")
}

// TestCrashInsideStartContainer: runc start ran, krilld died before it
// recorded RUNNING. Recovery asks runc, records RUNNING and watches the
// process: its exit is noticed without anyone calling Stop.
func TestCrashInsideStartContainer(t *testing.T) {
	e := newEnv(t, options{})
	podID, podCfg := e.pod("start")
	id := e.create(podID, podCfg, "c", "sh", "-c", "sleep 4; exit 3")
	e.hook("runc.start", killAfter)
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: id}); err == nil {
		t.Fatal("StartContainer survived a killed krilld")
	}
	e.reap()
	e.start()
	if st := e.status(id); st.State != runtime.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("started container recovered as %s, want RUNNING", st.State)
	}
	st := e.waitState(id, runtime.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if st.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3", st.ExitCode)
	}
	e.checkLeaks()
}

// TestCrashDuringCreateAndStop kills krilld inside runc create (run by the
// shim at StartContainer), as the exit path's runc delete starts (the shim
// signals the container, no runc kill runs) and in RemovePodSandbox's runc
// delete; nothing is left and Stop/Remove work.
func TestCrashDuringCreateAndStop(t *testing.T) {
	e := newEnv(t, options{})
	podID, podCfg := e.pod("create")
	e.hook("runc.create", killAfter)
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID, Config: e.containerConfig("c", "sleep", "3600"), SandboxConfig: podCfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err == nil {
		t.Fatal("StartContainer survived a killed krilld")
	}
	e.reap()
	e.start()
	e.checkLeaks()
	// Recovery removed the half-started runc container; the record stays
	// CREATED, and Start makes it anew.
	if st := e.status(r.ContainerId); st.State != runtime.ContainerState_CONTAINER_CREATED {
		t.Fatalf("half-started container recovered as %s, want CREATED", st.State)
	}
	id := e.container(podID, podCfg, "c2", "sleep", "3600")
	// The exit is recorded before the delete: the next krilld knows the
	// container exited, and its Remove deletes it from runc (--force).
	e.hook("runc.delete", killBefore)
	e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 1})
	e.reap()
	if !e.fired("runc.delete") {
		t.Fatal("the exit path ran no runc delete")
	}
	e.start()
	if st := e.status(id); st.State != runtime.ContainerState_CONTAINER_EXITED {
		t.Fatalf("container killed by Stop recovered as %s, want EXITED", st.State)
	}
	os.Remove(filepath.Join(e.hooks, "runc.delete.fired"))
	e.hook("runc.delete", killBefore)
	e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID})
	e.reap()
	e.start()
	e.checkLeaks()
	e.removeAll()
	e.checkLeaks()
}

// TestKilledShim: SIGKILL to a container's shim is noticed: the container
// is killed and reported EXITED with reason ShimDied, and stop and remove
// still work.
func TestKilledShim(t *testing.T) {
	e := newEnv(t, options{})
	podID, podCfg := e.pod("shim")
	id := e.container(podID, podCfg, "c", "sleep", "3600")
	b, err := os.ReadFile(filepath.Join(e.state, "shims", id, "shim.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmtSscan(strings.Fields(string(b))[0], &pid); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	st := e.waitState(id, runtime.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if st.Reason != "ShimDied" || st.ExitCode != 137 {
		t.Fatalf("reason %q code %d, want ShimDied 137", st.Reason, st.ExitCode)
	}
	if !strings.Contains(e.log(), "container's shim died") {
		t.Error("no log line says the shim died")
	}
	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	e.checkLeaks()
}
