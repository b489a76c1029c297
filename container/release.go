package container

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// releaseRuntime has the OCI runtime forget a container that has just
// exited (`runc delete`: its state and cgroup), after the exit and its
// reason are recorded (the OOM counters live in that cgroup) and before
// Stop's waiters wake. containerd deletes the task on exit the same way,
// which leaves RemoveContainer only metadata, mounts and files: ~10 ms
// less there. A failure is only logged: Remove deletes with --force, and
// after a krilld restart too, since runc's state survives it.
func (m *Manager) releaseRuntime(id string) {
	rt, err := m.runtimeOf(id)
	if err != nil {
		return // removed meanwhile, or its handler is gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), sandbox.CleanupTimeout)
	defer cancel()
	if err := rt.Release(ctx, id); err != nil {
		m.cfg.Log.Warn("release exited container from its runtime; RemoveContainer deletes it", "container", id, "err", err)
	}
}

// releaseRootfs unmounts the rootfs of a container that has just exited,
// as containerd's shim does when it deletes an exited task: nothing can run
// in it any more (a container is never started twice), and unmounting an
// overlay syncs the filesystem under its upper layer, the larger part of
// what RemoveContainer cost (~4 of ~10 ms here). The snapshot stays, with
// the container's writes still counted in its stats, until Remove, which
// also unmounts again (a no-op, or a retry of a failed unmount here).
func (m *Manager) releaseRootfs(c store.Container) {
	if err := m.unmountAll(filepath.Join(c.Bundle, "rootfs")); err != nil && !os.IsNotExist(err) {
		m.cfg.Log.Warn("unmount exited container's rootfs; RemoveContainer unmounts it", "container", c.ID, "err", err)
	}
}

// releaseWait bounds how long Remove waits for an exit being recorded and
// released; past it Remove goes on and deletes with --force itself.
const releaseWait = 10 * time.Second

// awaitRelease waits until an exited container's exit has been handled
// (releaseRuntime included), so Remove never deletes the shim directory
// while the release still writes into it.
func (m *Manager) awaitRelease(ctx context.Context, id string) {
	m.waitExit(ctx, id, releaseWait)
}
