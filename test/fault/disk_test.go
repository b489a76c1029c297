package fault

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestFullDisk: with root full, a container's exit is still reported (in
// memory), StopContainer, StopPodSandbox and RemovePodSandbox still work,
// and the records reach the disk once there is room again.
func TestFullDisk(t *testing.T) {
	e := newEnv(t, options{rootSize: 48})
	podID, podCfg := e.pod("disk")
	exiter := e.container(podID, podCfg, "exiter", "sh", "-c", "sleep 3; exit 3")
	sleeper := e.container(podID, podCfg, "sleeper", "sleep", "3600")
	filler := fill(t, e.root)

	st := e.waitState(exiter, runtime.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if st.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3", st.ExitCode)
	}
	if _, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: sleeper, Timeout: 1}); err != nil {
		t.Fatalf("stop on a full disk: %v", err)
	}
	if st := e.status(sleeper); st.State != runtime.ContainerState_CONTAINER_EXITED {
		t.Fatalf("stopped container is %s", st.State)
	}
	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("stop pod on a full disk: %v", err)
	}

	// Room again: the retried writes land, and a restart sees them.
	os.Remove(filler)
	time.Sleep(5 * time.Second) // two retry rounds of the store
	e.restart()
	if st := e.status(sleeper); st.State != runtime.ContainerState_CONTAINER_EXITED {
		t.Fatalf("after restart the stopped container is %s", st.State)
	}
	p, err := e.rt.PodSandboxStatus(e.ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || p.Status.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("pod after restart: %v %v", p, err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	e.checkLeaks()
}

// fill writes a file until dir's file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}
