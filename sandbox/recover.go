package sandbox

import (
	"context"
	"os"
	"path/filepath"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Recover brings the in-memory view in line with the host after a
// restart. Assumptions, in order:
//   - a pod record is written last in Run, so a record means the pod was
//     complete once; its pause may have died since (then it is NOTREADY);
//   - a pod directory without a record is a Run that crashed half-way: its
//     pause container, rootfs, files and netns are removed.
func (m *Manager) Recover(ctx context.Context) {
	for _, p := range m.Pods.List() {
		m.refresh(p)
	}
	entries, err := os.ReadDir(m.StateDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, err := m.Pods.Get(e.Name()); err == nil || len(e.Name()) != 64 {
			continue
		}
		m.Log.Warn("removing half-created pod", "pod", e.Name())
		orphan := store.Pod{ID: e.Name(), Config: &runtime.PodSandboxConfig{}}
		m.removePause(ctx, orphan)
		m.removePodFiles(e.Name())
		m.Network.RemoveNetNS(filepath.Join(m.NetnsDir, e.Name()))
	}
}
