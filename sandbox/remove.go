package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Remove stops the pod if needed, removes its containers (through ctrs)
// and everything it owns on the host, and forgets it. Unknown IDs succeed.
func (m *Manager) Remove(ctx context.Context, id string, ctrs PodContainers) error {
	pod, err := m.cfg.Pods.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := m.Stop(ctx, pod.ID, ctrs); err != nil {
		return err
	}
	defer m.exclusive(pod.ID)()
	defer m.locks.Lock(pod.ID)()
	if pod, err = m.cfg.Pods.Get(id); err != nil { // as Stop left it
		return err
	}
	if err := ctrs.RemovePodContainers(ctx, pod.ID); err != nil {
		return fmt.Errorf("remove containers of pod %s: %w", pod.ID, err)
	}
	if !pod.PauseRemoved {
		m.removePause(ctx, pod)
	}
	if err := m.removePodFiles(pod.ID); err != nil {
		return fmt.Errorf("remove files of pod %s: %w", pod.ID, err)
	}
	if err := m.cfg.Pods.Delete(pod.ID); err != nil {
		return err
	}
	m.cfg.NRI.RemovePodSandbox(ctx, pod)
	m.names.Release(nameKey(pod.Config.GetMetadata()), pod.ID)
	m.locks.Forget(pod.ID)
	m.gates.m.Delete(pod.ID)
	m.emit(pod, runtime.ContainerEventType_CONTAINER_DELETED_EVENT, ctrs)
	return nil
}
