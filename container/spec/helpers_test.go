package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/pkg/cap"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// testPasswd and testGroup are the user database of most test rootfs.
const (
	testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment, then a malformed line
broken:x:notanumber:0::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000::/home/app:/bin/sh
toor:x:0:0:another root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/false
`
	testGroup = `root:x:0:
nogroup:x:65534:
app:x:1000:app
extra:x:2000:app,www-data
audio:x:29:www-data
sys:x:3:
`
)

// writeRootfs makes a rootfs with the given /etc files (name -> content).
func writeRootfs(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func userRootfs(t testing.TB) string {
	return writeRootfs(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
}

// fakeCaps makes "all capabilities" the host's known set minus
// CAP_SYS_RESOURCE, like this machine's root, for the test's duration.
func fakeCaps(t testing.TB) []string {
	t.Helper()
	all := slices.DeleteFunc(slices.Clone(cap.Known()), func(c string) bool { return c == "CAP_SYS_RESOURCE" })
	old := currentCapabilities
	currentCapabilities = func() ([]string, error) { return slices.Clone(all), nil }
	t.Cleanup(func() { currentCapabilities = old })
	return all
}

// podInput is a minimal valid Input for a container of a normal pod.
func podInput(t testing.TB) Input {
	t.Helper()
	fakeCaps(t)
	return Input{
		ID:        "c1",
		SandboxID: "pod1",
		ImageName: "registry.k8s.io/e2e-test-images/busybox:1.29-2",
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "ctr"},
			Command:  []string{"/bin/true"},
		},
		Sandbox: &runtime.PodSandboxConfig{
			Metadata: &runtime.PodSandboxMetadata{Name: "pod", Namespace: "ns", Uid: "uid-1"},
			Hostname: "podhost",
		},
		Rootfs: userRootfs(t),
		Namespaces: Namespaces{
			NetNS: "/run/krill/netns/pod1",
			IPC:   "/proc/42/ns/ipc",
			UTS:   "/proc/42/ns/uts",
			PID:   "/proc/42/ns/pid",
		},
		CgroupsPath: "/krill/c1",
	}
}

// securityContext returns the container security context, creating it.
func securityContext(in *Input) *runtime.LinuxContainerSecurityContext {
	if in.Config.Linux == nil {
		in.Config.Linux = &runtime.LinuxContainerConfig{}
	}
	if in.Config.Linux.SecurityContext == nil {
		in.Config.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{}
	}
	return in.Config.Linux.SecurityContext
}

func podSecurityContext(in *Input) *runtime.LinuxSandboxSecurityContext {
	if in.Sandbox.Linux == nil {
		in.Sandbox.Linux = &runtime.LinuxPodSandboxConfig{}
	}
	if in.Sandbox.Linux.SecurityContext == nil {
		in.Sandbox.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{}
	}
	return in.Sandbox.Linux.SecurityContext
}

// checkErr fails unless err matches want (nil = no error expected).
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("expected an error wrapping %v, got none", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("expected an error wrapping %v, got %v", want, err)
	}
}

func findMount(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func int64p(v int64) *runtime.Int64Value { return &runtime.Int64Value{Value: v} }
