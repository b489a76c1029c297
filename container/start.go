package container

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// Start runs a created container's process (`runc start`) and starts the
// waiter that records its exit.
func (m *Manager) Start(ctx context.Context, id string) error {
	c, err := m.Containers.Get(id)
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	c, err = m.Containers.Get(c.ID)
	if err != nil {
		return err
	}
	if c.State != runtime.ContainerState_CONTAINER_CREATED {
		return fmt.Errorf("container %s is %s, not created: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	if err := rt.Start(ctx, c.ID); err != nil {
		// The process may have died in between (e.g. a bad entrypoint is
		// only found at exec time): record that as the container's end.
		if exit := rt.Exited(c.ID); exit != nil {
			m.recordExit(c.ID, exit)
		}
		return fmt.Errorf("start container %s: %w", c.ID, err)
	}
	c, err = m.Containers.Update(c.ID, func(r *store.Container) error {
		r.State = runtime.ContainerState_CONTAINER_RUNNING
		r.StartedAt = time.Now().UnixNano()
		return nil
	})
	if err != nil {
		return err
	}
	m.emit(c, runtime.ContainerEventType_CONTAINER_STARTED_EVENT)
	go m.wait(c.ID)
	return nil
}

// wait blocks until the container exits and records it. It runs once per
// started container, also for containers recovered after a restart.
func (m *Manager) wait(id string) {
	rt, err := m.runtimeOf(id)
	var exit *oci.Exit
	if err == nil {
		exit, err = rt.Wait(context.Background(), id)
	}
	if err != nil {
		m.Log.Warn("wait for container", "container", id, "err", err)
		exit = &oci.Exit{Code: 255, FinishedAt: time.Now()}
	}
	m.recordExit(id, exit)
}

// recordExit writes an exit into the record once, with the reason kubelet
// shows: OOMKilled when the cgroup saw an OOM kill, else Completed/Error.
func (m *Manager) recordExit(id string, exit *oci.Exit) {
	var recorded bool
	c, err := m.Containers.Update(id, func(r *store.Container) error {
		if r.State == runtime.ContainerState_CONTAINER_EXITED {
			return nil
		}
		recorded = true
		r.State = runtime.ContainerState_CONTAINER_EXITED
		r.ExitCode = int32(exit.Code)
		r.FinishedAt = exit.FinishedAt.UnixNano()
		if r.StartedAt == 0 {
			// Never started (died at create/start): kubelet wants a time.
			r.StartedAt = r.FinishedAt
		}
		switch oom, _ := m.Cgroups.OOMKilled(r.CgroupsPath); {
		case oom:
			r.Reason = "OOMKilled"
		case exit.Code == 0:
			r.Reason = "Completed"
		default:
			r.Reason = "Error"
		}
		return nil
	})
	if err != nil {
		return
	}
	if recorded {
		m.Log.Info("container exited", "container", id, "code", c.ExitCode, "reason", c.Reason)
		m.emit(c, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT)
	}
	m.closeExited(id)
}

// closeExited wakes everyone waiting in Stop for this container's exit.
func (m *Manager) closeExited(id string) {
	m.exitMu.Lock()
	defer m.exitMu.Unlock()
	ch := m.exitedChan(id)
	select {
	case <-ch:
	default:
		close(ch)
	}
}
