package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestStartErrors: a container whose process cannot run is created, then
// fails at StartContainer with a clear message and a specific code (never
// Unknown); its status is EXITED, exit code 128, reason StartError with
// runc's message, as containerd and CRI-O report it; it can be removed and
// its name reused at once.
func TestStartErrors(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("starterr")
	cases := []struct {
		name    string
		cmd     []string
		workdir string
		want    string // in the message
	}{
		{"missing", []string{"/no/such/binary"}, "", "no such file or directory"},
		{"not-in-path", []string{"nosuchcommand"}, "", "not found"},
		{"not-executable", []string{"/etc/passwd"}, "", "permission denied"},
		{"bad-workdir", []string{"sleep", "60"}, "/etc/passwd", "not a directory"},
	}
	cfg := func(name string, cmd []string, workdir string) *runtime.ContainerConfig {
		return &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: name}, Image: &runtime.ImageSpec{Image: e.image},
			Command: cmd, WorkingDir: workdir, LogPath: name + ".log",
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg(tc.name, tc.cmd, tc.workdir)})
			if err != nil {
				t.Fatalf("create: %v (a start error belongs to StartContainer)", err)
			}
			_, err = e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId})
			if err == nil {
				t.Fatal("start succeeded")
			}
			t.Logf("start error: %v", err)
			if c := status.Code(err); c == codes.Unknown || c == codes.OK {
				t.Errorf("start error code %v: %v", c, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start error %q does not say %q", err, tc.want)
			}
			st := e.status(r.ContainerId)
			if st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 128 || st.Reason != "StartError" ||
				!strings.Contains(st.Message, tc.want) || st.FinishedAt == 0 {
				t.Errorf("status: %v exit %d reason %q message %q finished %d; want EXITED 128 StartError",
					st.State, st.ExitCode, st.Reason, st.Message, st.FinishedAt)
			}
			if _, err := e.rt.RemoveContainer(e.ctx(), &runtime.RemoveContainerRequest{ContainerId: r.ContainerId}); err != nil {
				t.Fatalf("remove: %v", err)
			}
			// The name is free again at once.
			r, err = e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg(tc.name, []string{"sleep", "60"}, "")})
			if err != nil {
				t.Fatalf("create again with the same name: %v", err)
			}
			if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
				t.Fatalf("start the fixed container: %v", err)
			}
		})
	}
	if strings.Contains(e.log(), "code=Unknown") {
		t.Errorf("an RPC answered Unknown:\n%s", e.log())
	}
}
