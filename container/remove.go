package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Remove deletes a container and everything it owns on the host: the runc
// container and shim, the rootfs mount and snapshot, the cgroup and the
// bundle. A running container is killed first (kubelet removes only
// stopped ones; crictl rm -f does not). Unknown IDs succeed.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, err := m.Containers.Get(id)
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
	if err := mount.UnmountAll(rootfs, 0); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unmount rootfs of %s: %w", c.ID, err)
	}
	if err := m.unmountImageVolumes(ctx, c.ID); err != nil {
		return fmt.Errorf("remove image volumes of %s: %w", c.ID, err)
	}
	if err := m.Images.RemoveRootfs(ctx, c.ID); err != nil {
		return fmt.Errorf("remove rootfs of %s: %w", c.ID, err)
	}
	if err := m.Cgroups.Remove(c.CgroupsPath); err != nil {
		m.Log.Warn("remove cgroup", "container", c.ID, "err", err)
	}
	m.NRI.RemoveContainer(ctx, c) // before the bundle goes: plugins see the spec
	if err := os.RemoveAll(c.Bundle); err != nil {
		return err
	}
	if err := m.Containers.Delete(c.ID); err != nil {
		return err
	}
	m.names.Release(nameKey(c.PodID, c.Config.GetMetadata()), c.ID)
	m.locks.Forget(c.ID)
	m.exited.Delete(c.ID)
	forgetSample(c.CgroupsPath)
	c.State = runtime.ContainerState_CONTAINER_EXITED
	m.emit(c, runtime.ContainerEventType_CONTAINER_DELETED_EVENT)
	return nil
}
