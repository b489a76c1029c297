package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestFailedCreateLeavesNothing: a CreateContainer that fails half-way
// (after its rootfs and an image volume were mounted) undoes every step
// and releases the name, so kubelet's retry with the same name succeeds,
// and a RunPodSandbox refused for a bad sysctl can be retried too.
func TestFailedCreateLeavesNothing(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("retry")
	cfg := func(sub string) *runtime.ContainerConfig {
		return &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "retried"},
			Image:    &runtime.ImageSpec{Image: e.image},
			Command:  []string{"sleep", "3600"},
			Mounts: []*runtime.Mount{{
				ContainerPath: "/vol", Readonly: true,
				Image: &runtime.ImageSpec{Image: e.image}, ImageSubPath: sub,
			}},
		}
	}
	_, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg("no-such-dir")})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("create with a missing image sub-path: %v, want NotFound", err)
	}
	bundles, _ := os.ReadDir(filepath.Join(e.dir, "state", "containers"))
	if len(bundles) != 0 {
		t.Fatalf("failed create left bundles: %v", bundles)
	}
	if m := mountsUnder(t, filepath.Join(e.dir, "state", "containers")); len(m) != 0 {
		t.Fatalf("failed create left mounts: %v", m)
	}
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg("bin")})
	if err != nil {
		t.Fatalf("retry with the same name: %v", err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if out := e.exec(r.ContainerId, "ls", "/vol/busybox"); out != "/vol/busybox" {
		t.Fatalf("image volume sub-path content: %q", out)
	}

	bad := &runtime.PodSandboxConfig{
		Metadata: &runtime.PodSandboxMetadata{Name: "sysctl", Namespace: "e2e", Uid: "sysctl-uid"},
		Linux:    &runtime.LinuxPodSandboxConfig{Sysctls: map[string]string{"kernel.shm_rmid_forced": "1+kernel.core_pattern=x"}},
	}
	if _, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: bad}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sysctl injection: %v, want InvalidArgument", err)
	}
	bad.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1"}
	if _, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: bad}); err != nil {
		t.Fatalf("retry of a refused pod with the same name: %v", err)
	}
	// The first pod's files are untouched by the failures.
	if _, err := os.Stat(filepath.Join(e.dir, "state", "pods", podID, "hosts")); err != nil {
		t.Fatalf("pod files of an unrelated pod: %v", err)
	}
}

func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// TestStopThenRemoveLeaveNothing: StopPodSandbox already deletes pause (runc
// state, cgroup, rootfs mount) and the netns, beside CNI DEL; a second stop
// is harmless; RemovePodSandbox then leaves no pod directory, mount or record.
func TestStopThenRemoveLeaveNothing(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("stopper")
	e.container(podID, podCfg, "c", []string{"sleep", "3600"})
	state := filepath.Join(e.dir, "state")
	pauseCgroup := filepath.Join("/sys/fs/cgroup/memory/krill-e2e/stopper", podID)
	for _, p := range []string{filepath.Join(state, "runc", podID), pauseCgroup, filepath.Join(state, "netns", podID)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("running pod lacks %s: %v", p, err)
		}
	}

	for i := 0; i < 2; i++ {
		if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatalf("stop #%d: %v", i+1, err)
		}
	}
	for _, p := range []string{filepath.Join(state, "runc", podID), pauseCgroup, filepath.Join(state, "netns", podID)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("stopped pod still has %s (%v)", p, err)
		}
	}
	if m := mountsUnder(t, filepath.Join(state, "pods", podID, "bundle")); len(m) != 0 {
		t.Errorf("stopped pod's pause rootfs still mounted: %v", m)
	}
	st, err := e.rt.PodSandboxStatus(e.ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || st.Status.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("status after stop: %v, %v", st, err)
	}

	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "pods", podID)); !os.IsNotExist(err) {
		t.Errorf("pod directory left after remove (%v)", err)
	}
	if m := mountsUnder(t, filepath.Join(state, "pods")); len(m) != 0 {
		t.Errorf("mounts left after remove: %v", m)
	}
	if _, err := e.rt.PodSandboxStatus(e.ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID}); status.Code(err) != codes.NotFound {
		t.Errorf("status after remove: %v, want NotFound", err)
	}
}
