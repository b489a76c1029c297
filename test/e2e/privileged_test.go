package e2e

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// mountOptions returns the options of the mount at dir in a container, from
// its /proc/self/mountinfo.
func (e *env) mountOptions(id, dir string) string {
	e.t.Helper()
	for _, line := range strings.Split(e.exec(id, "cat", "/proc/self/mountinfo"), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == dir {
			return f[5]
		}
	}
	e.t.Fatalf("no mount at %s", dir)
	return ""
}

// TestPrivileged: a privileged container in a privileged pod gets /sys and
// /sys/fs/cgroup read-write (containerd and CRI-O do), an unprivileged one
// read-only; a privileged container in an unprivileged pod is refused with
// InvalidArgument and a message that says why.
func TestPrivileged(t *testing.T) {
	e := newEnv(t)
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: "priv", Namespace: "e2e", Uid: "priv-uid"},
		Hostname:     "priv-host",
		LogDirectory: e.dir + "/logs/priv",
		Linux: &runtime.LinuxPodSandboxConfig{
			CgroupParent:    "/krill-e2e/priv",
			SecurityContext: &runtime.LinuxSandboxSecurityContext{Privileged: true},
		},
	}
	e.pods = append(e.pods, "priv")
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	create := func(podID string, podCfg *runtime.PodSandboxConfig, name string, privileged bool) (string, error) {
		c, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: name}, Image: &runtime.ImageSpec{Image: e.image},
				Command: []string{"sleep", "3600"}, LogPath: name + ".log",
				Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{Privileged: privileged}},
			},
		})
		if err != nil {
			return "", err
		}
		_, err = e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: c.ContainerId})
		return c.ContainerId, err
	}
	priv, err := create(r.PodSandboxId, cfg, "privileged", true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := create(r.PodSandboxId, cfg, "plain", false)
	if err != nil {
		t.Fatal(err)
	}
	// The cgroup hierarchy to check: v1's memory, or the v2 root.
	cgdir := "/sys/fs/cgroup/memory"
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		cgdir = "/sys/fs/cgroup"
	}
	for _, dir := range []string{"/sys", cgdir} {
		if o := e.mountOptions(priv, dir); !strings.HasPrefix(o, "rw") {
			t.Errorf("privileged: %s mounted %s, want rw", dir, o)
		}
		if o := e.mountOptions(plain, dir); !strings.HasPrefix(o, "ro") {
			t.Errorf("unprivileged: %s mounted %s, want ro", dir, o)
		}
	}
	// Writable for real, not only by its mount flags: sysfs has one
	// superblock per network namespace, and pause mounted the pod's first.
	// Writing eth0's own queue length back changes nothing.
	write := "cat /sys/class/net/eth0/tx_queue_len > /tmp/q && cat /tmp/q > /sys/class/net/eth0/tx_queue_len"
	if r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: priv, Cmd: []string{"sh", "-c", write}, Timeout: 20}); err != nil || r.ExitCode != 0 {
		t.Errorf("privileged: write to /sys: %v %s", err, r.GetStderr())
	}
	// And a cgroup below its own can be made and removed.
	if r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: priv, Cmd: []string{"sh", "-c", "mkdir " + cgdir + "/probe && rmdir " + cgdir + "/probe"}, Timeout: 20}); err != nil || r.ExitCode != 0 {
		t.Errorf("privileged: make a cgroup: %v %s", err, r.GetStderr())
	}
	if r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: plain, Cmd: []string{"sh", "-c", write}, Timeout: 20}); err != nil || r.ExitCode == 0 {
		t.Errorf("unprivileged: wrote to /sys: %v", err)
	}

	podID, podCfg := e.pod("unpriv")
	_, err = create(podID, podCfg, "escalate", true)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "non-privileged pod") {
		t.Fatalf("privileged container in an unprivileged pod: %v, want InvalidArgument saying so", err)
	}
}

// TestHostNetworkHostname: a host-network pod that asks for a hostname of
// its own is refused (it would rename the node); the node's own name and
// no name are fine.
func TestHostNetworkHostname(t *testing.T) {
	e := newEnv(t)
	node, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	run := func(name, hostname string) error {
		cfg := &runtime.PodSandboxConfig{
			Metadata: &runtime.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: name + "-uid"},
			Hostname: hostname,
			Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE},
			}},
		}
		_, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
		return err
	}
	if err := run("own-name", "not-"+node); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("host-network pod with its own hostname: %v, want InvalidArgument", err)
	}
	if err := run("node-name", node); err != nil {
		t.Fatalf("host-network pod with the node's hostname: %v", err)
	}
	if err := run("no-name", ""); err != nil {
		t.Fatalf("host-network pod without a hostname: %v", err)
	}
	if h, _ := os.Hostname(); h != node {
		t.Fatalf("the node was renamed to %q", h)
	}
}
