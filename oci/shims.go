package oci

import (
	"os"
	"path/filepath"
)

// ShimPid returns the pid of container id's shim while that shim runs.
func (r *Runtime) ShimPid(id string) (int, bool) { return shimPid(r.shimDir(id)) }

// Shims counts the shims alive, checked by pid and start time as
// everywhere else (a stale shim.pid of a dead shim does not count).
func (r *Runtime) Shims() int {
	entries, err := os.ReadDir(r.cfg.ShimDir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if _, ok := shimPid(filepath.Join(r.cfg.ShimDir, e.Name())); ok {
			n++
		}
	}
	return n
}
