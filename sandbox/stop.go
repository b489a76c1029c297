package sandbox

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Stop stops every container of the pod (through ctrs), kills pause and
// tears the network down. The record and the pod's files stay for
// PodSandboxStatus. Stopping an unknown or stopped pod succeeds: kubelet
// retries stops.
func (m *Manager) Stop(ctx context.Context, id string, ctrs PodContainers) error {
	pod, err := m.Pods.Get(id)
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
	if cur, err := m.Pods.Get(pod.ID); err == nil && cur.State == runtime.PodSandboxState_SANDBOX_READY {
		m.NRI.StopPodSandbox(ctx, cur)
	}
	// CNI DEL and killing (then deleting) pause side by side: the netns is
	// a bind mount, so it outlives pause until RemoveNetNS below. Deleting
	// the dead pause container here rather than in Remove hides the cost of
	// `runc delete` behind the DEL, the longer of the two.
	netErr := make(chan error, 1)
	go func() {
		if pod.NetworkReady {
			netErr <- m.Network.Teardown(ctx, podNetwork(pod))
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
		if err := m.Network.RemoveNetNS(pod.NetNS); err != nil {
			return fmt.Errorf("remove netns of pod %s: %w", pod.ID, err)
		}
	}
	// Settle: the pod is stopped whether or not the disk takes the record
	// now (full disk); the write is retried.
	var stopped bool
	updated, err := m.Pods.Settle(pod.ID, func(p *store.Pod) error {
		stopped = p.State == runtime.PodSandboxState_SANDBOX_READY
		p.State = runtime.PodSandboxState_SANDBOX_NOTREADY
		p.NetworkReady = false
		p.PauseRemoved = pauseRemoved
		return nil
	})
	if err != nil {
		m.Log.Warn("record pod stop", "pod", pod.ID, "err", err)
		if errdefs.IsNotFound(err) {
			return err
		}
	}
	if stopped { // once: a second stop, or a pod found dead, sent it already
		m.emit(updated, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, ctrs)
	}
	return nil
}

// stopPause kills the pause process and waits briefly for it to go; pause
// holds no state, so SIGKILL is the whole stop. It signals the PID itself
// (pauseAlive has checked it is pause) rather than running `runc kill`,
// which costs a runc start-up for the same syscall.
func (m *Manager) stopPause(pod store.Pod) {
	if !pauseAlive(pod) {
		return
	}
	if err := syscall.Kill(pod.PausePid, syscall.SIGKILL); err != nil {
		m.Log.Warn("kill pause", "pod", pod.ID, "err", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pauseAlive(pod) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// Remove stops the pod if needed, removes its containers (through ctrs)
// and everything it owns on the host, and forgets it. Unknown IDs succeed.
func (m *Manager) Remove(ctx context.Context, id string, ctrs PodContainers) error {
	pod, err := m.Pods.Get(id)
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
	if pod, err = m.Pods.Get(id); err != nil { // as Stop left it
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
	if err := m.Pods.Delete(pod.ID); err != nil {
		return err
	}
	m.NRI.RemovePodSandbox(ctx, pod)
	m.names.Release(nameKey(pod.Config.GetMetadata()), pod.ID)
	m.locks.Forget(pod.ID)
	m.gates.m.Delete(pod.ID)
	m.emit(pod, runtime.ContainerEventType_CONTAINER_DELETED_EVENT, ctrs)
	return nil
}
