package container

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// UpdateResources changes the limits of a created or running container
// (`runc update`) and records them so ContainerStatus reports them.
func (m *Manager) UpdateResources(ctx context.Context, id string, res *runtime.LinuxContainerResources) error {
	if res == nil {
		return fmt.Errorf("no linux resources given: %w", errdefs.ErrInvalidArgument)
	}
	c, err := m.Containers.Get(id)
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	if c.State == runtime.ContainerState_CONTAINER_EXITED {
		return fmt.Errorf("container %s has exited: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	oci := cgroups.ToOCI(res, m.DaemonOOMScoreAdj)
	m.Cgroups.DropUnsupported(oci)
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	if err := rt.Update(ctx, c.ID, oci); err != nil {
		return fmt.Errorf("update resources of %s: %w", c.ID, err)
	}
	_, err = m.Containers.Update(c.ID, func(r *store.Container) error {
		r.Resources = res
		return nil
	})
	return err
}

// ReopenLog makes the shim reopen the container's log file after kubelet
// rotated it.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	c, err := m.Containers.Get(id)
	if err != nil {
		return err
	}
	if c.State != runtime.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	return rt.ReopenLog(ctx, c.ID)
}
