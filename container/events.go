package container

import (
	"context"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// emit publishes a container's lifecycle event with what kubelet's evented
// PLEG rebuilds the pod's state from: the pod's status and the statuses of
// all the pod's containers, as containerd sends them.
func (m *Manager) emit(c store.Container, t runtime.ContainerEventType) {
	ev := &runtime.ContainerEventResponse{
		ContainerId:        c.ID,
		ContainerEventType: t,
		CreatedAt:          time.Now().UnixNano(),
		ContainersStatuses: m.ContainerStatuses(c.PodID),
	}
	if st, _, err := m.cfg.Sandboxes.Status(context.Background(), c.PodID, false, m); err == nil {
		ev.PodSandboxStatus = st
	}
	m.cfg.Events.Publish(ev)
}

// ContainerStatuses returns the statuses of a pod's containers (for the
// pod's own events, sandbox.PodContainers).
func (m *Manager) ContainerStatuses(podID string) []*runtime.ContainerStatus {
	out := []*runtime.ContainerStatus{}
	for _, c := range m.podContainers(podID) {
		out = append(out, toStatus(c))
	}
	return out
}
