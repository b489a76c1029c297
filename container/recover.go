package container

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/oci"
)

// Recover re-attaches to containers after krilld restarted. Assumptions:
//   - a record is written last in Create, so every record had a shim;
//   - a shim outlives krilld and writes the exit file when its container
//     ends, so a container that exited while krilld was down still has its
//     real exit code (oci.Runtime.Exited reads it);
//   - a bundle directory without a record is a Create that crashed
//     half-way: its runc container, mounts and snapshot are removed.
func (m *Manager) Recover(ctx context.Context) {
	for _, c := range m.Containers.List() {
		m.exited.Store(c.ID, make(chan struct{}))
		rt, err := m.runtime(c)
		if err != nil {
			// Its handler left the configuration: nothing can ask about
			// it any more; the record stays for kubelet to remove.
			m.Log.Warn("container's runtime handler is gone", "container", c.ID, "err", err)
			m.closeExited(c.ID)
			continue
		}
		switch c.State {
		case runtime.ContainerState_CONTAINER_EXITED:
			m.closeExited(c.ID)
		case runtime.ContainerState_CONTAINER_RUNNING:
			if exit := rt.Exited(c.ID); exit != nil {
				m.recordExit(c.ID, exit)
				continue
			}
			go m.wait(c.ID)
		case runtime.ContainerState_CONTAINER_CREATED:
			if exit := rt.Exited(c.ID); exit != nil {
				m.recordExit(c.ID, exit)
			}
		default:
			m.recordExit(c.ID, &oci.Exit{Code: 255, FinishedAt: time.Now()})
		}
	}
	entries, err := os.ReadDir(m.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, err := m.Containers.Get(e.Name()); err == nil || len(e.Name()) != 64 {
			continue
		}
		m.Log.Warn("removing half-created container", "container", e.Name())
		for _, rt := range m.Runtimes.All() { // no record names its handler
			rt.Delete(ctx, e.Name())
		}
		m.unmountImageVolumes(ctx, e.Name())
		mount.UnmountAll(filepath.Join(m.StateDir, e.Name(), "rootfs"), 0)
		m.Images.RemoveRootfs(ctx, e.Name())
		os.RemoveAll(filepath.Join(m.StateDir, e.Name()))
	}
}
