package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// needAppArmor skips on hosts whose kernel does not enforce AppArmor or
// that lack apparmor_parser (this host; the Debian 12 VM has both).
func needAppArmor(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || !strings.HasPrefix(string(b), "Y") {
		t.Skip("AppArmor is not enabled in the kernel")
	}
	if _, err := exec.LookPath("apparmor_parser"); err != nil {
		t.Skip("no apparmor_parser")
	}
}

// nodePod runs a pod with the cgroup parent the node's cgroup driver wants.
func (e *env) nodePod(name string) (string, *runtime.PodSandboxConfig) {
	e.t.Helper()
	rc, err := e.rt.RuntimeConfig(e.ctx(), &runtime.RuntimeConfigRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	if rc.GetLinux().GetCgroupDriver() == runtime.CgroupDriver_SYSTEMD {
		id, cfg, _ := e.slicePod(name)
		return id, cfg
	}
	return e.pod(name)
}

// TestAppArmorEnforced: on a host with AppArmor, a container with no
// profile or RuntimeDefault runs confined by krill-default, Unconfined runs
// unconfined, a loaded Localhost profile is applied and enforced, and one
// that is not loaded is refused with FailedPrecondition.
func TestAppArmorEnforced(t *testing.T) {
	needAppArmor(t)
	e := newEnv(t)

	// A profile that denies writes below /tmp and allows everything else a
	// shell needs.
	const testProfile = "krill-e2e-deny-tmp"
	file := filepath.Join(e.dir, testProfile)
	os.WriteFile(file, []byte(`#include <tunables/global>
profile `+testProfile+` flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>
  file,
  capability,
  deny /tmp/** w,
}
`), 0o644)
	if out, err := exec.Command("apparmor_parser", "-r", file).CombinedOutput(); err != nil {
		t.Fatalf("load test profile: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("apparmor_parser", "-R", file).Run() })

	podID, podCfg := e.nodePod("aa")
	create := func(name string, sp *runtime.SecurityProfile) (string, error) {
		r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: name},
				Image:    &runtime.ImageSpec{Image: e.image},
				Command:  []string{"sleep", "3600"},
				Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{
					Apparmor: sp,
				}},
			},
		})
		if err != nil {
			return "", err
		}
		_, err = e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId})
		return r.ContainerId, err
	}
	for _, tc := range []struct {
		name string
		sp   *runtime.SecurityProfile
		want string
	}{
		{"unset", nil, "krill-default (enforce)"},
		{"default", &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}, "krill-default (enforce)"},
		{"unconfined", &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, "unconfined"},
		{"localhost", &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "localhost/" + testProfile}, testProfile + " (enforce)"},
	} {
		id, err := create(tc.name, tc.sp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := e.exec(id, "cat", "/proc/self/attr/current"); got != tc.want {
			t.Errorf("%s: profile %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "localhost" {
			r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "echo x > /tmp/x"}, Timeout: 20})
			if err != nil || r.ExitCode == 0 {
				t.Errorf("write to /tmp under %s: %v, exit %d: the profile is not enforced", testProfile, err, r.GetExitCode())
			}
		}
	}
	_, err := create("missing", &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "krill-e2e-not-loaded"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("unloaded Localhost profile: %v, want FailedPrecondition", err)
	}
}
