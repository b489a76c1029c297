// Package events fans CRI lifecycle events out to GetContainerEvents
// subscribers (kubelet's evented PLEG). Both app containers (package
// container) and pod sandboxes (package sandbox) publish here; a pod's own
// events carry the pod ID as container ID, as containerd sends them.
//
// It owns only the fan-out. It must never build events itself: the
// publisher fills in the pod and container statuses it knows best.
package events

import (
	"sync"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// subscriberBuffer is how many events a subscriber may fall behind before
// it loses some: a slow subscriber must not block a lifecycle call, and
// kubelet's evented PLEG relists periodically anyway. A pod's whole life
// (pod and a few containers created, started, stopped, deleted) is a few
// dozen events.
const subscriberBuffer = 1024

// Broadcaster delivers every published event to every subscriber, in the
// order they were published.
type Broadcaster struct {
	mu   sync.Mutex
	subs map[chan *runtime.ContainerEventResponse]struct{}
}

// New returns a Broadcaster without subscribers.
func New() *Broadcaster {
	return &Broadcaster{subs: map[chan *runtime.ContainerEventResponse]struct{}{}}
}

// Subscribe returns a channel of the events published from now on and a
// function that ends the subscription.
func (b *Broadcaster) Subscribe() (<-chan *runtime.ContainerEventResponse, func()) {
	ch := make(chan *runtime.ContainerEventResponse, subscriberBuffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Publish hands ev to every subscriber without waiting for any of them.
// A nil Broadcaster drops events (tests that need none).
func (b *Broadcaster) Publish(ev *runtime.ContainerEventResponse) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
