package container

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/metrics"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// Start runs a created container: its shim and `runc create`, then
// `runc start`, and the waiter that records its exit. Whatever stops the
// process from running (no such command, not executable, a working
// directory that cannot be entered, a mount runc refuses) fails Start, and
// the container is then EXITED with exit code 128 and reason StartError,
// carrying runc's message: what containerd and CRI-O report, and what
// kubelet shows as RunContainerError.
func (m *Manager) Start(ctx context.Context, id string) error {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	c, err = m.cfg.Containers.Get(c.ID)
	if err != nil {
		return err
	}
	if c.State != runtime.ContainerState_CONTAINER_CREATED {
		return fmt.Errorf("container %s is %s, not created: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	if err := m.cfg.NRI.StartContainer(ctx, c); err != nil {
		return err
	}
	pod, err := m.cfg.Sandboxes.Get(c.PodID)
	if err != nil {
		return err
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	t := time.Now()
	pid, err := rt.Create(ctx, oci.CreateOpts{
		ID: c.ID, Bundle: c.Bundle, LogPath: c.LogPath, LogRoot: pod.Config.GetLogDirectory(),
		Stdin: c.Config.GetStdin(), StdinOnce: c.Config.GetStdinOnce(), TTY: c.Config.GetTty(),
	})
	if err == nil {
		// runc has joined /proc/<pause pid>/ns/*: if pause is still the
		// same process, those were its namespaces (see sandbox.CheckPause).
		// The container has run none of its own code yet.
		err = sandbox.CheckPause(pod)
	}
	if err == nil {
		err = m.checkPIDTarget(c.PodID, c.Config)
	}
	if err != nil {
		return m.startFailed(c, err)
	}
	metrics.ObserveStep("runc", time.Since(t))
	// The OOM watch starts before the process runs: under systemd the
	// scope's memory.events is gone by the time its exit reaches krilld.
	// `runc create` has made the cgroup by now.
	oom := m.watchOOM(c.ID, c.CgroupsPath)
	t = time.Now()
	if err := rt.Start(ctx, c.ID); err != nil {
		oom.end()
		return m.startFailed(c, err)
	}
	metrics.ObserveStep("start", time.Since(t))
	m.markRunning(c.ID, pid, time.Now(), oom)
	m.cfg.NRI.PostStartContainer(ctx, c)
	return nil
}

// markRunning records a started container as running and starts its
// waiter (with oom, the container's OOM watch, or nil). It runs: a record
// that cannot be written now (full disk) is kept in memory and written
// later, never left saying CREATED with nobody watching the process.
func (m *Manager) markRunning(id string, pid int, startedAt time.Time, oom *oomWatch) {
	c, err := m.cfg.Containers.Settle(id, func(r *store.Container) error {
		r.State = runtime.ContainerState_CONTAINER_RUNNING
		r.Pid = pid
		r.StartedAt = startedAt.UnixNano()
		return nil
	})
	if err != nil {
		m.cfg.Log.Warn("record container start", "container", id, "err", err)
		if errdefs.IsNotFound(err) {
			oom.end()
			return
		}
	}
	m.emit(c, runtime.ContainerEventType_CONTAINER_STARTED_EVENT)
	go m.wait(id, oom)
}

// startErrorCode is the exit code of a container whose process never ran
// (containerd's and CRI-O's, from the shell's "command not executable").
const startErrorCode = 128

// startFailed records a failed start as the container's end and returns
// the error for the caller. runc failures oci could not classify (a mount
// runc refuses, say) come from the container's config meeting the host or
// its image: FailedPrecondition too, like the ones it could.
func (m *Manager) startFailed(c store.Container, err error) error {
	// Whatever runc and the shim got to make goes now; Remove would do it
	// too, but a half-started init must not linger until then.
	if rt, rerr := m.runtime(c); rerr == nil {
		if derr := rt.Delete(context.Background(), c.ID); derr != nil {
			m.cfg.Log.Warn("delete container after failed start", "container", c.ID, "err", derr)
		}
	}
	msg := strings.TrimSuffix(err.Error(), ": "+errdefs.ErrUnknown.Error())
	if errdefs.IsUnknown(err) {
		err = fmt.Errorf("%s: %w", msg, errdefs.ErrFailedPrecondition)
	}
	now := time.Now().UnixNano()
	rec, uerr := m.cfg.Containers.Update(c.ID, func(r *store.Container) error {
		r.State = runtime.ContainerState_CONTAINER_EXITED
		r.ExitCode = startErrorCode
		r.Reason = "StartError"
		r.Message = msg
		r.StartedAt, r.FinishedAt = now, now
		return nil
	})
	if uerr == nil {
		m.cfg.Log.Info("container failed to start", "container", c.ID, "err", msg)
		m.emit(rec, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT)
	}
	m.closeExited(c.ID)
	return fmt.Errorf("start container %s: %w", c.ID, err)
}

// wait blocks until the container exits and records it, with what oom saw.
// It runs once per started container, also for containers recovered after a
// restart.
func (m *Manager) wait(id string, oom *oomWatch) {
	rt, err := m.runtimeOf(id)
	var exit *oci.Exit
	if err == nil {
		exit, err = rt.Wait(context.Background(), id)
	}
	if err != nil {
		m.cfg.Log.Warn("wait for container", "container", id, "err", err)
		exit = &oci.Exit{Code: 255, FinishedAt: time.Now()}
	}
	m.recordExit(id, exit, oom.end())
}

// recordExit writes an exit into the record once, with the reason kubelet
// shows: OOMKilled when an OOM kill was watched (oomSeen) or the cgroup's
// counters still show one, else Completed/Error.
func (m *Manager) recordExit(id string, exit *oci.Exit, oomSeen bool) {
	var recorded bool
	c, err := m.cfg.Containers.Settle(id, func(r *store.Container) error {
		if r.State == runtime.ContainerState_CONTAINER_EXITED {
			return nil
		}
		recorded = true
		r.State = runtime.ContainerState_CONTAINER_EXITED
		r.ExitCode = int32(exit.Code)
		r.FinishedAt = exit.FinishedAt.UnixNano()
		switch oom, _ := m.cfg.Cgroups.OOMKilled(r.CgroupsPath); {
		case exit.ShimDied:
			r.Reason = "ShimDied"
			r.Message = "krill-shim died before the container: the container was killed (or found dead), its output after that point is lost"
		case oom || oomSeen:
			r.Reason = "OOMKilled"
		case exit.Code == 0:
			r.Reason = "Completed"
		default:
			r.Reason = "Error"
		}
		return nil
	})
	if err != nil {
		// Not found: removed meanwhile. Else the exit is in memory and
		// its write is retried: Stop and Remove must not wait for it.
		m.cfg.Log.Warn("record container exit", "container", id, "err", err)
	}
	if recorded && exit.ShimDied {
		m.cfg.Log.Warn("container's shim died", "container", id, "code", c.ExitCode)
	}
	if recorded {
		if c.Reason == "OOMKilled" {
			metrics.IncOOMKill()
		}
		m.cfg.Log.Info("container exited", "container", id, "code", c.ExitCode, "reason", c.Reason)
		m.emit(c, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT)
		// Before closeExited: a Stop returns only once plugins know.
		m.cfg.NRI.StopContainer(context.Background(), c)
		m.releaseRuntime(id)
		m.releaseRootfs(c)
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
