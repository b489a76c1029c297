package sandbox

import (
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// emit publishes a lifecycle event of the pod itself. kubelet's evented
// PLEG sees a sandbox as a container whose ID is the pod's: CREATED and
// STARTED once RunPodSandbox has made it, STOPPED when pause is gone,
// DELETED on removal (containerd sends the same). The event carries the
// pod's status and its containers' statuses, from which kubelet rebuilds
// the pod without asking; ctrs gives those (nil: the pod has none yet).
func (m *Manager) emit(p store.Pod, t runtime.ContainerEventType, ctrs PodContainers) {
	ev := &runtime.ContainerEventResponse{
		ContainerId:        p.ID,
		ContainerEventType: t,
		CreatedAt:          time.Now().UnixNano(),
		PodSandboxStatus:   toStatus(p),
		ContainersStatuses: []*runtime.ContainerStatus{},
	}
	if ctrs != nil {
		ev.ContainersStatuses = ctrs.ContainerStatuses(p.ID)
	}
	m.cfg.Events.Publish(ev)
}
