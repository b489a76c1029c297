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
//     pause container (under whichever handler ran it), rootfs, files and netns are removed. The netns file
//     goes last and only once CNI DEL worked, so a DEL that failed (a hung
//     plugin, cut off after CleanupTimeout) is tried again next start;
//   - a pod whose record was quarantined (unreadable) is not an orphan:
//     its pause, network and files are left alone.
func (m *Manager) Recover(ctx context.Context, ctrs PodContainers) {
	for _, p := range m.cfg.Pods.List() {
		m.refresh(p, ctrs)
	}
	orphans := map[string]bool{}
	for _, dir := range []string{m.cfg.StateDir, m.cfg.NetnsDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, err := m.cfg.Pods.Get(e.Name()); err != nil && len(e.Name()) == store.IDLength {
				orphans[e.Name()] = true
			}
		}
	}
	for id := range orphans {
		if m.cfg.Pods.Quarantined(id) {
			m.cfg.Log.Warn("pod record quarantined: its pause, network and files are left alone", "pod", id)
			continue
		}
		m.removeOrphan(ctx, id)
	}
}

// removeOrphan removes what a crashed Run of pod id left.
func (m *Manager) removeOrphan(ctx context.Context, id string) {
	m.cfg.Log.Warn("removing half-created pod", "pod", id)
	orphan := store.Pod{ID: id, Config: &runtime.PodSandboxConfig{}}
	cctx, cancel := cleanupCtx(ctx)
	// No record says which handler ran its pause: ask every runtime
	// (deleting an unknown container is no error).
	for _, rt := range m.cfg.Runtimes.All() {
		rt.Delete(cctx, id)
	}
	m.removePause(cctx, orphan)
	cancel()
	// CNI may have run already: DEL from libcni's cache (or the intent
	// written before ADD) releases the IP and port rules even without the
	// netns.
	netns := filepath.Join(m.cfg.NetnsDir, id)
	cctx, cancel = cleanupCtx(ctx)
	err := m.cfg.Network.Teardown(cctx, network.PodNetwork{ID: id, NetNS: netns})
	cancel()
	if err != nil {
		m.cfg.Log.Warn("tear down network of half-created pod; tried again at the next start", "pod", id, "err", err)
		return
	}
	m.removePodFiles(id)
	m.cfg.Network.RemoveNetNS(netns)
}
