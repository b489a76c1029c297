package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCDIDevices: a CDI spec of the test's own (in a spec directory of its
// own) gives containers asking for its device, by CDI_devices or by a
// cdi.k8s.io/ annotation, a device node (/dev/null as /dev/krill-test), an
// env var and a mount; a device no spec defines fails CreateContainer
// with NotFound naming it, and leaves nothing behind.
func TestCDIDevices(t *testing.T) {
	specDir, err := os.MkdirTemp("", "krill-cdi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(specDir) })
	data := filepath.Join(specDir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "hello"), []byte("from-cdi\n"), 0o644)
	spec := fmt.Sprintf(`{"cdiVersion": "0.6.0", "kind": "krill.test/device",
  "devices": [{"name": "null", "containerEdits": {
    "deviceNodes": [{"path": "/dev/krill-test", "hostPath": "/dev/null"}],
    "env": ["KRILL_CDI_DEVICE=null"]}}],
  "containerEdits": {"env": ["KRILL_CDI=yes"],
    "mounts": [{"hostPath": %q, "containerPath": "/cdi-data", "options": ["ro", "bind"]}]}}`, data)
	os.WriteFile(filepath.Join(specDir, "krill-test.json"), []byte(spec), 0o644)
	e := newEnvWith(t, envOptions{extraConfig: fmt.Sprintf("[cdi]\nspec_dirs = [%q]\n", specDir)})
	podID, podCfg := e.pod("cdi")

	create := func(name string, devices []string, annotations map[string]string) (string, error) {
		cfg := &runtime.ContainerConfig{
			Metadata:    &runtime.ContainerMetadata{Name: name},
			Image:       &runtime.ImageSpec{Image: e.image},
			Command:     []string{"sleep", "3600"},
			Annotations: annotations,
		}
		for _, d := range devices {
			cfg.CDIDevices = append(cfg.CDIDevices, &runtime.CDIDevice{Name: d})
		}
		r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			return "", err
		}
		_, err = e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId})
		return r.ContainerId, err
	}

	_, err = create("missing", []string{"krill.test/device=gpu0"}, nil)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "krill.test/device=gpu0") {
		t.Fatalf("unknown CDI device: %v, want NotFound naming it", err)
	}
	if bundles, _ := os.ReadDir(filepath.Join(e.dir, "state", "containers")); len(bundles) != 0 {
		t.Fatalf("refused container left %d bundles", len(bundles))
	}

	byField, err := create("by-field", []string{"krill.test/device=null"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byAnnotation, err := create("by-annotation", nil, map[string]string{"cdi.k8s.io/krill-test": "krill.test/device=null"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{byField, byAnnotation} {
		// /dev/null's numbers, 1:3, as a character device.
		if got := e.exec(id, "stat", "-c", "%F %t:%T", "/dev/krill-test"); got != "character special file 1:3" {
			t.Errorf("%s: /dev/krill-test is %q", id, got)
		}
		e.exec(id, "sh", "-c", "echo x > /dev/krill-test") // the device cgroup lets it be used
		if got := e.exec(id, "sh", "-c", "echo $KRILL_CDI $KRILL_CDI_DEVICE"); got != "yes null" {
			t.Errorf("%s: CDI env %q", id, got)
		}
		if got := e.exec(id, "cat", "/cdi-data/hello"); got != "from-cdi" {
			t.Errorf("%s: CDI mount %q", id, got)
		}
	}
	// A container that asked for nothing gets nothing.
	plain := e.container(podID, podCfg, "plain", []string{"sleep", "3600"})
	if r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: plain, Cmd: []string{"ls", "/dev/krill-test"}, Timeout: 10}); err != nil || r.ExitCode == 0 {
		t.Errorf("container without CDI devices has /dev/krill-test (%v)", err)
	}
}
