package sandbox

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// CleanupTimeout bounds each undo step of a failed create and each cleanup
// step of recovery that runs runc or a CNI plugin: a hung plugin must not
// pin an RPC (and the name it reserved) or keep krilld "recovering" for
// ever. The step is then logged as failed and left for the next try.
const CleanupTimeout = 30 * time.Second

// cleanupCtx is a context for one recovery step (undo.List gives undo
// steps the same): it outlives the
// caller's cancellation (the step must run) but not CleanupTimeout.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
}

// gates hold, per pod, a read-write lock: container creates share it, Stop
// and Remove take it alone.
type gates struct{ m sync.Map }

func (g *gates) get(id string) *sync.RWMutex {
	v, _ := g.m.LoadOrStore(id, &sync.RWMutex{})
	return v.(*sync.RWMutex)
}

// Use holds a ready pod for a container create until release is called:
// StopPodSandbox and RemovePodSandbox wait for it, and a create that comes
// after them finds the pod not ready. Without it RemovePodSandbox could
// list the pod's containers just before a concurrent CreateContainer wrote
// its record, and that container (shim, cgroup, rootfs) would outlive its
// pod.
func (m *Manager) Use(id string) (_ store.Pod, release func(), _ error) {
	pod, err := m.cfg.Pods.Get(id)
	if err != nil {
		return store.Pod{}, nil, err
	}
	g := m.gates.get(pod.ID)
	g.RLock()
	if pod, err = m.cfg.Pods.Get(pod.ID); err != nil {
		g.RUnlock()
		return store.Pod{}, nil, err
	}
	if pod.State != runtime.PodSandboxState_SANDBOX_READY {
		g.RUnlock()
		return store.Pod{}, nil, fmt.Errorf("pod %s is not ready: %w", pod.ID, errdefs.ErrFailedPrecondition)
	}
	return pod, g.RUnlock, nil
}

// exclusive waits until no create uses the pod, and keeps new ones out
// until unlock is called.
func (m *Manager) exclusive(id string) (unlock func()) {
	g := m.gates.get(id)
	g.Lock()
	return g.Unlock
}
