package cri

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
)

// TestRuntimeConfigReportsDriver: kubelet >= 1.31 takes its cgroup driver
// from RuntimeConfig, so it must be the one krilld settled on.
func TestRuntimeConfigReportsDriver(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "init.scope"), 0o755)
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	for driver, want := range map[string]runtime.CgroupDriver{
		cgroups.DriverCgroupfs: runtime.CgroupDriver_CGROUPFS,
		cgroups.DriverSystemd:  runtime.CgroupDriver_SYSTEMD,
	} {
		cg, err := cgroups.New(root)
		if err != nil {
			t.Fatal(err)
		}
		if err := cg.SetDriver(driver); err != nil {
			t.Fatal(err)
		}
		s := &Server{cgroups: cg}
		r, err := s.RuntimeConfig(context.Background(), &runtime.RuntimeConfigRequest{})
		if err != nil || r.GetLinux().GetCgroupDriver() != want {
			t.Errorf("driver %s: RuntimeConfig = %v, %v; want %s", driver, r, err, want)
		}
	}
}
