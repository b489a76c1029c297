package container

import (
	"context"
	"sync"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// broadcaster fans container events out to GetContainerEvents streams.
// A slow subscriber loses events rather than blocking the lifecycle: the
// evented PLEG in kubelet relists periodically anyway.
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan *runtime.ContainerEventResponse]struct{}
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: map[chan *runtime.ContainerEventResponse]struct{}{}}
}

// Subscribe returns a channel of events and a function that ends it.
func (m *Manager) Subscribe() (<-chan *runtime.ContainerEventResponse, func()) {
	ch := make(chan *runtime.ContainerEventResponse, 256)
	b := m.events
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (m *Manager) emit(c store.Container, t runtime.ContainerEventType) {
	ev := &runtime.ContainerEventResponse{
		ContainerId:        c.ID,
		ContainerEventType: t,
		CreatedAt:          time.Now().UnixNano(),
		ContainersStatuses: []*runtime.ContainerStatus{toStatus(c)},
	}
	if p, err := m.Pods.Get(c.PodID); err == nil {
		ev.PodSandboxStatus, _, _ = m.Pods.Status(context.Background(), p.ID, false)
	}
	b := m.events
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
