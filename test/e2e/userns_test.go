package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestUserNamespaces: a pod with its own user namespace (KEP-127) runs
// under the handler that can idmap mounts: its containers see the pod's
// mapping, own their rootfs and see a host volume with its owners intact
// (idmapped), and what they write lands owned by the host's root. The
// Debian runc handler refuses such a pod with a message naming the one
// that can.
func TestUserNamespaces(t *testing.T) {
	e := newEnvWith(t, envOptions{runtimeConfig: "handlers.runc13.path = \"" + newRunc(t) + "\"\n"})
	idmap := []*runtime.IDMapping{{ContainerId: 0, HostId: 200000, Length: 65536}}
	podCfg := func(name string) *runtime.PodSandboxConfig {
		e.pods = append(e.pods, name)
		return &runtime.PodSandboxConfig{
			Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: name + "-uid"},
			Hostname:     name,
			LogDirectory: filepath.Join(e.dir, "logs", name),
			Linux: &runtime.LinuxPodSandboxConfig{
				CgroupParent: "/krill-e2e/" + name,
				SecurityContext: &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{
					UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: idmap, Gids: idmap},
				}},
			},
		}
	}

	_, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: podCfg("old-runc")})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `"runc"`) || !strings.Contains(err.Error(), "runc13") {
		t.Fatalf("user namespace under runc 1.1.5: %v, want FailedPrecondition naming runc and runc13", err)
	}

	vol := filepath.Join(e.dir, "vol")
	os.MkdirAll(vol, 0o755)
	os.WriteFile(filepath.Join(vol, "hostfile"), []byte("x"), 0o644)
	cfg := podCfg("userns")
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "runc13"})
	if err != nil {
		t.Fatal(err)
	}
	id := e.container(r.PodSandboxId, cfg, "c", []string{"sleep", "3600"}, &runtime.Mount{ContainerPath: "/vol", HostPath: vol})

	if got := strings.Join(strings.Fields(e.exec(id, "cat", "/proc/self/uid_map")), " "); got != "0 200000 65536" {
		t.Errorf("uid_map %q, want 0 200000 65536", got)
	}
	if got := e.exec(id, "stat", "-c", "%u:%g", "/", "/bin/busybox", "/vol/hostfile"); got != "0:0\n0:0\n0:0" {
		t.Errorf("owners of /, /bin/busybox, /vol/hostfile inside: %q, want root (idmapped rootfs and volume)", got)
	}
	e.exec(id, "touch", "/rootfs-write", "/vol/fromctr")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vol, "fromctr"), &st); err != nil || st.Uid != 0 {
		t.Errorf("file the container's root wrote in the volume: uid %d (%v), want the host's root through the idmapped mount", st.Uid, err)
	}
	// The container's root is an unprivileged user on the host.
	pid, _ := os.ReadFile(filepath.Join(e.dir, "state", "shims", id, "init.pid"))
	status, _ := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "status"))
	if !strings.Contains(string(status), "Uid:\t200000\t") {
		t.Errorf("container init (pid %s) is not host uid 200000:\n%s", pid, status)
	}
	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: r.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
}
