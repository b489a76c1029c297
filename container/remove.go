package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
)

// Remove deletes a container and everything it owns on the host: the runc
// container and shim, the rootfs mount and snapshot, the cgroup and the
// bundle. A running container is killed first (kubelet removes only
// stopped ones; crictl rm -f does not). Unknown IDs succeed.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, err := m.cfg.Containers.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.State != runtime.ContainerState_CONTAINER_EXITED {
		if err := m.Stop(ctx, c.ID, 0); err != nil {
			return err
		}
	} else {
		m.awaitRelease(ctx, c.ID)
	}
	defer m.locks.Lock(c.ID)()
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	if err := rt.Delete(ctx, c.ID); err != nil {
		return fmt.Errorf("delete container %s: %w", c.ID, err)
	}
	rootfs := filepath.Join(c.Bundle, "rootfs")
	if err := m.unmountAll(rootfs); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unmount rootfs of %s: %w", c.ID, err)
	}
	if err := m.unmountImageVolumes(ctx, c.ID); err != nil {
		return fmt.Errorf("remove image volumes of %s: %w", c.ID, err)
	}
	if err := m.cfg.Images.RemoveRootfs(ctx, c.ID); err != nil {
		return fmt.Errorf("remove rootfs of %s: %w", c.ID, err)
	}
	if err := m.cfg.Cgroups.Remove(c.CgroupsPath); err != nil {
		m.cfg.Log.Warn("remove cgroup", "container", c.ID, "err", err)
	}
	m.cfg.NRI.RemoveContainer(ctx, c) // before the bundle goes: plugins see the spec
	if err := os.RemoveAll(c.Bundle); err != nil {
		return err
	}
	if err := m.cfg.Containers.Delete(c.ID); err != nil {
		return err
	}
	m.names.Release(nameKey(c.PodID, c.Config.GetMetadata()), c.ID)
	m.locks.Forget(c.ID)
	m.exited.Delete(c.ID)
	cgroups.ForgetUsage(c.CgroupsPath)
	c.State = runtime.ContainerState_CONTAINER_EXITED
	m.emit(c, runtime.ContainerEventType_CONTAINER_DELETED_EVENT)
	return nil
}
