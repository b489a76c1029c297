package sandbox

import (
	"context"
	"os"
	"path/filepath"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/store"
)

// Recover brings the in-memory view in line with the host after a
// restart. Assumptions, in order:
//   - a pod record is written last in Run, so a record means the pod was
//     complete once; its pause may have died since (then it is NOTREADY);
//   - a pod directory or netns file without a record is a Run that crashed
//     half-way (the netns is made first, the files next): its network,
//     pause container (under whichever handler ran it), rootfs, files and
//     netns are removed.
func (m *Manager) Recover(ctx context.Context) {
	for _, p := range m.Pods.List() {
		m.refresh(p)
	}
	orphans := map[string]bool{}
	for _, dir := range []string{m.StateDir, m.NetnsDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, err := m.Pods.Get(e.Name()); err != nil && len(e.Name()) == 64 {
				orphans[e.Name()] = true
			}
		}
	}
	for id := range orphans {
		m.Log.Warn("removing half-created pod", "pod", id)
		// No record says which handler ran its pause: ask every runtime
		// (deleting an unknown container is no error).
		for _, rt := range m.Runtimes.All() {
			rt.Delete(ctx, id)
		}
		orphan := store.Pod{ID: id, Config: &runtime.PodSandboxConfig{}}
		m.removePause(ctx, orphan)
		m.removePodFiles(id)
		// CNI may have run already: DEL from libcni's cache releases the
		// IP and port rules even without the netns.
		netns := filepath.Join(m.NetnsDir, id)
		if err := m.Network.Teardown(ctx, network.PodNetwork{ID: id, NetNS: netns}); err != nil {
			m.Log.Warn("tear down network of half-created pod", "pod", id, "err", err)
		}
		m.Network.RemoveNetNS(netns)
	}
}
