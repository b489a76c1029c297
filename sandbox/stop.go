package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Stop stops every container of the pod (through ctrs), kills pause and
// tears the network down. The record and the pod's files stay for
// PodSandboxStatus. Stopping an unknown or stopped pod succeeds: kubelet
// retries stops.
func (m *Manager) Stop(ctx context.Context, id string, ctrs PodContainers) error {
	pod, err := m.cfg.Pods.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer m.exclusive(pod.ID)()
	defer m.locks.Lock(pod.ID)()
	if err := ctrs.StopPodContainers(ctx, pod.ID); err != nil {
		return fmt.Errorf("stop containers of pod %s: %w", pod.ID, err)
	}
	// Once per pod (the state as of holding the lock: a concurrent Stop may
	// have finished meanwhile), with pause and the network still up.
	if cur, err := m.cfg.Pods.Get(pod.ID); err == nil && cur.State == runtime.PodSandboxState_SANDBOX_READY {
		m.cfg.NRI.StopPodSandbox(ctx, cur)
	}
	// CNI DEL and killing (then deleting) pause side by side: the netns is
	// a bind mount, so it outlives pause until RemoveNetNS below. Deleting
	// the dead pause container here rather than in Remove hides the cost of
	// `runc delete` behind the DEL, the longer of the two.
	netErr := make(chan error, 1)
	go func() {
		if pod.NetworkReady {
			netErr <- m.cfg.Network.Teardown(ctx, podNetwork(pod))
			return
		}
		netErr <- nil
	}()
	m.stopPause(pod)
	pauseRemoved := pod.PauseRemoved || m.removePause(ctx, pod)
	if err := <-netErr; err != nil {
		return fmt.Errorf("tear down network of pod %s: %w", pod.ID, err)
	}
	if pod.NetNS != "" {
		if err := m.cfg.Network.RemoveNetNS(pod.NetNS); err != nil {
			return fmt.Errorf("remove netns of pod %s: %w", pod.ID, err)
		}
	}
	// Settle: the pod is stopped whether or not the disk takes the record
	// now (full disk); the write is retried.
	var stopped bool
	updated, err := m.cfg.Pods.Settle(pod.ID, func(p *store.Pod) error {
		stopped = p.State == runtime.PodSandboxState_SANDBOX_READY
		p.State = runtime.PodSandboxState_SANDBOX_NOTREADY
		p.NetworkReady = false
		p.PauseRemoved = pauseRemoved
		return nil
	})
	if err != nil {
		m.cfg.Log.Warn("record pod stop", "pod", pod.ID, "err", err)
		if errdefs.IsNotFound(err) {
			return err
		}
	}
	if stopped { // once: a second stop, or a pod found dead, sent it already
		m.emit(updated, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, ctrs)
	}
	return nil
}
