package container

import (
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// checkPIDTarget validates a TARGET pid namespace (kubectl debug's
// ephemeral container sharing another container's processes): the target
// must exist, belong to the same pod and be running, as containerd and
// CRI-O require. Without this check a bad target silently fell back to a
// fresh pid namespace, and the debug container saw nothing.
//
// Start calls it again after `runc create` has joined
// /proc/<target pid>/ns/pid: the target is still RUNNING in its record,
// so its pid was not yet free for a stranger to take (an exit reaches the
// record through the shim before the pid can be reused).
func (m *Manager) checkPIDTarget(podID string, cfg *runtime.ContainerConfig) error {
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if ns.GetPid() != runtime.NamespaceMode_TARGET {
		return nil
	}
	if ns.GetTargetId() == "" {
		return fmt.Errorf("pid namespace mode TARGET needs a target container ID: %w", errdefs.ErrInvalidArgument)
	}
	t, err := m.cfg.Containers.Get(ns.GetTargetId())
	if err != nil {
		return fmt.Errorf("target container %q of the pid namespace: %w", ns.GetTargetId(), err)
	}
	if t.PodID != podID {
		return fmt.Errorf("target container %s belongs to pod %s, not %s: %w", t.ID, t.PodID, podID, errdefs.ErrInvalidArgument)
	}
	if t.State != runtime.ContainerState_CONTAINER_RUNNING || t.Pid <= 0 {
		return fmt.Errorf("target container %s is %s, not running: its pid namespace cannot be joined: %w", t.ID, t.State, errdefs.ErrFailedPrecondition)
	}
	return nil
}
