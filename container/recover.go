package container

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// Recover re-attaches to containers after krilld restarted. Assumptions:
//   - a record is written last in Create; a started container (RUNNING or
//     EXITED) had a shim, a CREATED one has none until Start makes it;
//   - a shim outlives krilld and writes the exit file when its container
//     ends, so a container that exited while krilld was down still has its
//     real exit code (oci.Runtime.Exited reads it);
//   - a record saying CREATED may belong to a container a krilld killed
//     inside StartContainer did start: runc tells;
//   - a record whose pod has no record is a create that raced a pod
//     removal: the container is removed (unless the pod's record is only
//     quarantined: then the pod may well be alive);
//   - a bundle directory without a record is a Create that crashed
//     half-way: its runc container, mounts and snapshot are removed, unless
//     its record was quarantined (unreadable): that one is left alone.
//
// Every step that runs runc is bounded by sandbox.CleanupTimeout.
func (m *Manager) Recover(ctx context.Context) {
	for _, c := range m.cfg.Containers.List() {
		m.exited.Store(c.ID, make(chan struct{}))
		// Re-attached first: Remove's stop waits for the waiter.
		m.recoverOne(ctx, c)
		if _, err := m.cfg.Sandboxes.Get(c.PodID); errdefs.IsNotFound(err) && !m.cfg.Sandboxes.Quarantined(c.PodID) {
			m.cfg.Log.Warn("removing container whose pod is gone", "container", c.ID, "pod", c.PodID)
			cctx, cancel := context.WithTimeout(ctx, sandbox.CleanupTimeout)
			if err := m.Remove(cctx, c.ID); err != nil {
				m.cfg.Log.Warn("remove container whose pod is gone", "container", c.ID, "err", err)
			}
			cancel()
		}
	}
	entries, err := os.ReadDir(m.cfg.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, err := m.cfg.Containers.Get(e.Name()); err == nil || len(e.Name()) != store.IDLength {
			continue
		}
		if m.cfg.Containers.Quarantined(e.Name()) {
			m.cfg.Log.Warn("container record quarantined: its process, shim and mounts are left alone", "container", e.Name())
			continue
		}
		m.removeHalfCreated(ctx, e.Name())
	}
}

// recoverOne brings one container's record in line with its process.
func (m *Manager) recoverOne(ctx context.Context, c store.Container) {
	rt, err := m.runtime(c)
	if err != nil && c.State != runtime.ContainerState_CONTAINER_EXITED {
		// Its handler left the configuration: nothing can ask about it
		// any more; the record stays for kubelet to remove.
		m.cfg.Log.Warn("container's runtime handler is gone", "container", c.ID, "err", err)
		m.closeExited(c.ID)
		return
	}
	switch c.State {
	case runtime.ContainerState_CONTAINER_EXITED:
		m.closeExited(c.ID)
	case runtime.ContainerState_CONTAINER_RUNNING:
		if exit := rt.Exited(c.ID); exit != nil {
			m.recordExit(c.ID, exit, false)
			return
		}
		go m.wait(c.ID, m.watchOOM(c.ID, c.CgroupsPath))
	case runtime.ContainerState_CONTAINER_CREATED:
		if exit := rt.Exited(c.ID); exit != nil {
			m.recordExit(c.ID, exit, false)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, sandbox.CleanupTimeout)
		status, err := rt.Status(cctx, c.ID)
		cancel()
		if err != nil {
			m.cfg.Log.Warn("state of created container", "container", c.ID, "err", err)
			return
		}
		switch status {
		case "running":
			m.cfg.Log.Warn("container started by a krilld that died in StartContainer: recorded running", "container", c.ID)
			pid, _ := rt.Pid(c.ID)
			m.markRunning(c.ID, pid, time.Now(), m.watchOOM(c.ID, c.CgroupsPath))
		case "created", "stopped":
			// krilld died between the shim/`runc create` and `runc start`:
			// what it made goes, and StartContainer makes it anew.
			cctx, cancel := context.WithTimeout(ctx, sandbox.CleanupTimeout)
			if err := rt.Delete(cctx, c.ID); err != nil {
				m.cfg.Log.Warn("delete half-started container", "container", c.ID, "err", err)
			}
			cancel()
		}
	default:
		m.recordExit(c.ID, &oci.Exit{Code: 255, FinishedAt: time.Now()}, false)
	}
}

// removeHalfCreated removes what a crashed Create of id left.
func (m *Manager) removeHalfCreated(ctx context.Context, id string) {
	m.cfg.Log.Warn("removing half-created container", "container", id)
	ctx, cancel := context.WithTimeout(ctx, sandbox.CleanupTimeout)
	defer cancel()
	for _, rt := range m.cfg.Runtimes.All() { // no record names its handler
		if err := rt.Delete(ctx, id); err != nil {
			m.cfg.Log.Warn("delete half-created container; tried again at the next start", "container", id, "err", err)
			return
		}
	}
	m.unmountImageVolumes(ctx, id)
	mount.UnmountAll(filepath.Join(m.cfg.StateDir, id, "rootfs"), 0)
	m.cfg.Images.RemoveRootfs(ctx, id)
	os.RemoveAll(filepath.Join(m.cfg.StateDir, id))
}
