// Package cgroupstest gives other packages' unit tests a cgroup manager
// over a fake cgroup v2 tree in a temporary directory: no root, no host
// cgroups touched.
package cgroupstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/krill-runtime/krill/cgroups"
)

// V2 is a manager whose root is an empty temporary directory that looks
// like a cgroup v2 mount with the cpu, memory and pids controllers.
func V2(t testing.TB) *cgroups.Manager {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := cgroups.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
