package container

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// killAll SIGKILLs every process of the container. In a PID namespace of
// its own (CRI's CONTAINER mode, the default), killing its init is enough:
// the kernel then kills every other process of the namespace, exec'd ones
// included, and the shim signals the init without a runc start-up. A
// container sharing the pod's or the host's PID namespace needs `runc
// kill --all`, which signals every process of its cgroup.
func (m *Manager) killAll(ctx context.Context, rt *oci.Runtime, c store.Container) error {
	if ownPIDNamespace(c.Bundle) {
		return rt.Signal(ctx, c.ID, syscall.SIGKILL)
	}
	return rt.Kill(ctx, c.ID, syscall.SIGKILL, true)
}

// ownPIDNamespace tells from the bundle's spec (what runc ran, NRI
// adjustments included) whether the container made a PID namespace of its
// own. When in doubt, no: `runc kill --all` is always right.
func ownPIDNamespace(bundle string) bool {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var s struct {
		Linux *struct {
			Namespaces []specs.LinuxNamespace `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(data, &s) != nil || s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
