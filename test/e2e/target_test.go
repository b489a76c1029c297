package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPIDNamespaceTarget: a container whose pid namespace is TARGET (what
// kubectl debug --target asks for) sees the target's processes; a target
// that is unknown, in another pod or not running is refused with the
// matching code instead of silently getting a fresh pid namespace.
func TestPIDNamespaceTarget(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("target")
	otherPod, otherCfg := e.pod("target-other")

	create := func(pod string, pcfg *runtime.PodSandboxConfig, name string, cmd []string, ns *runtime.NamespaceOption) (string, error) {
		r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
			PodSandboxId: pod,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: name},
				Image:    &runtime.ImageSpec{Image: e.image},
				Command:  cmd,
				LogPath:  name + ".log",
				Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{
					NamespaceOptions: ns,
				}},
			},
			SandboxConfig: pcfg,
		})
		return r.GetContainerId(), err
	}
	sleep := []string{"sleep", "3600"}
	targeting := func(id string) *runtime.NamespaceOption {
		return &runtime.NamespaceOption{Pid: runtime.NamespaceMode_TARGET, TargetId: id}
	}
	// The target has a pid namespace of its own (kubelet's default,
	// CONTAINER), where its shell's exec'd sleep is pid 1.
	target, err := create(podID, podCfg, "app", []string{"sh", "-c", "exec sleep 3601"}, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: target}); err != nil {
		t.Fatal(err)
	}

	// A target that is created but not started has no pid namespace yet.
	idle, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "idle"},
			Image:    &runtime.ImageSpec{Image: e.image},
			Command:  []string{"sleep", "3600"},
		},
		SandboxConfig: podCfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pod, target string
		pcfg              *runtime.PodSandboxConfig
		want              codes.Code
	}{
		{"unknown", podID, strings.Repeat("ab", 32), podCfg, codes.NotFound},
		{"empty", podID, "", podCfg, codes.InvalidArgument},
		{"other-pod", otherPod, target, otherCfg, codes.InvalidArgument},
		{"not-running", podID, idle.ContainerId, podCfg, codes.FailedPrecondition},
	} {
		if _, err := create(tc.pod, tc.pcfg, "dbg-"+tc.name, sleep, targeting(tc.target)); status.Code(err) != tc.want {
			t.Errorf("%s target: got %v, want code %v", tc.name, err, tc.want)
		}
	}

	id, err := create(podID, podCfg, "dbg", sleep, targeting(target))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	// The debug container shares the target's pid namespace: the target's
	// `sleep 3601` is pid 1 there, and the target sees the debugger's sleep.
	if got := e.exec(id, "cat", "/proc/1/cmdline"); !strings.Contains(got, "3601") {
		t.Errorf("pid 1 in the debug container is %q, want the target's sleep 3601", got)
	}
	if got := e.exec(target, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"); !strings.Contains(got, "sleep 3600") {
		t.Errorf("the target does not see the debug container's process: %q", got)
	}
}
