package container

import (
	"context"
	"syscall"

	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// killAll SIGKILLs every process of the container. In a PID namespace of
// its own (CRI's CONTAINER mode, the default), killing its init is enough:
// the kernel then kills every other process of the namespace, exec'd ones
// included, and the shim signals the init without a runc start-up. A
// container sharing the pod's or the host's PID namespace needs `runc
// kill --all`, which signals every process of its cgroup.
func (m *Manager) killAll(ctx context.Context, rt ociRuntime, c store.Container) error {
	if oci.OwnsPIDNamespace(c.Bundle) {
		return rt.Signal(ctx, c.ID, syscall.SIGKILL)
	}
	return rt.Kill(ctx, c.ID, syscall.SIGKILL, true)
}
