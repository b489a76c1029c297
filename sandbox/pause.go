package sandbox

// The pause container: its start, liveness, stop, unmount and removal.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/store"
)

// startPause mounts the pause image and runs it with runc,
// detached and without a shim.
func (m *Manager) startPause(ctx context.Context, pod store.Pod, pause *image.Image) (int, error) {
	bundle := m.pauseBundle(pod.ID)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return 0, err
	}
	if err := ShareWithUserns(pod.Config, m.podDir(pod.ID), bundle, rootfs); err != nil {
		return 0, err
	}
	// Writable, although the spec makes the root read-only: runc must
	// create the mount points (/proc, /dev, ...) the pause image lacks
	// before it remounts the root read-only.
	mounts, err := m.cfg.Images.PrepareRootfs(ctx, pod.ID, pod.PauseImageID, false)
	if err != nil {
		return 0, fmt.Errorf("pause rootfs: %w", err)
	}
	if err := mount.All(mounts, rootfs); err != nil {
		m.cfg.Images.RemoveRootfs(ctx, pod.ID)
		return 0, fmt.Errorf("mount pause rootfs: %w", err)
	}
	if err := kernelMountpoints(pod, rootfs); err != nil {
		m.unmountPause(ctx, pod.ID)
		return 0, err
	}
	var imageName string
	if len(pause.RepoTags) > 0 {
		imageName = pause.RepoTags[0]
	}
	s, err := spec.GenerateSandbox(spec.SandboxInput{
		ID:                      pod.ID,
		Config:                  pod.Config,
		Image:                   pause.Config,
		ImageName:               imageName,
		Rootfs:                  rootfs,
		NetNSPath:               pod.NetNS,
		CgroupsPath:             m.cfg.Cgroups.ContainerPath(pod.CgroupParent, pod.ID),
		UnifiedCgroups:          m.cfg.Cgroups.Mode() == cgroups.ModeV2,
		DaemonOOMScoreAdj:       m.cfg.DaemonOOMScoreAdj,
		EnableUnprivilegedPorts: true,
		EnableUnprivilegedICMP:  true,
		AllowedAnnotations:      m.cfg.AllowedAnnotations,
	})
	if err == nil {
		var data []byte
		data, err = json.Marshal(s)
		if err == nil {
			err = os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
		}
	}
	if err != nil {
		m.unmountPause(ctx, pod.ID)
		return 0, fmt.Errorf("pause spec: %w", err)
	}
	rt, err := m.cfg.Runtimes.Get(pod.Runtime)
	if err != nil {
		m.unmountPause(ctx, pod.ID)
		return 0, err
	}
	pid, err := rt.RunDetached(ctx, pod.ID, bundle)
	if err != nil {
		m.unmountPause(ctx, pod.ID)
		return 0, fmt.Errorf("start pause container: %w", err)
	}
	return pid, nil
}

// unmountPause unmounts and frees the pause rootfs; false when a step
// failed (it is logged).
func (m *Manager) unmountPause(ctx context.Context, id string) bool {
	ok := true
	rootfs := filepath.Join(m.pauseBundle(id), "rootfs")
	if err := mount.UnmountAll(rootfs, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.cfg.Log.Warn("unmount pause rootfs", "pod", id, "err", err)
		ok = false
	}
	if err := m.cfg.Images.RemoveRootfs(ctx, id); err != nil {
		m.cfg.Log.Warn("remove pause rootfs", "pod", id, "err", err)
		ok = false
	}
	return ok
}

// removePause kills and deletes the pause container, its rootfs and its
// cgroup. It goes on after a failed step (each is logged) and reports
// whether all of them succeeded, so that a caller can try again later.
func (m *Manager) removePause(ctx context.Context, pod store.Pod) bool {
	ok := true
	if rt, err := m.cfg.Runtimes.Get(pod.Runtime); err != nil {
		m.cfg.Log.Warn("delete pause container", "pod", pod.ID, "err", err)
		ok = false
	} else if err := rt.Delete(ctx, pod.ID); err != nil {
		m.cfg.Log.Warn("delete pause container", "pod", pod.ID, "err", err)
		ok = false
	}
	ok = m.unmountPause(ctx, pod.ID) && ok
	if err := m.cfg.Cgroups.Remove(m.cfg.Cgroups.ContainerPath(pod.CgroupParent, pod.ID)); err != nil {
		m.cfg.Log.Warn("remove pause cgroup", "pod", pod.ID, "err", err)
		ok = false
	}
	return ok
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
		m.cfg.Log.Warn("kill pause", "pod", pod.ID, "err", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pauseAlive(pod) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// CheckPause fails with FailedPrecondition unless the pod's pause process
// still runs. Called after a container joined /proc/<pause pid>/ns/*, it
// proves the namespaces were pause's: the process with the recorded pid
// and start time held that pid the whole time, so no stranger could.
func CheckPause(p store.Pod) error {
	if !pauseAlive(p) {
		return fmt.Errorf("pod %s: its pause process %d is gone (its namespaces cannot be joined): %w", p.ID, p.PausePid, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// pauseAlive tells whether the pause process of p still runs. Pause is
// started detached (runc run -d), so its parent is the host's init and it
// may linger as a zombie for a moment after being killed. A PID can be
// reused after a reboot or a long uptime, so the process must have the
// start time recorded at RunPodSandbox (records of an older krilld have
// none) and sit in the pod's cgroup, whose path ends in the pod ID.
func pauseAlive(p store.Pod) bool {
	if p.PausePid <= 0 || syscall.Kill(p.PausePid, 0) != nil {
		return false
	}
	state, start, ok := procStat(p.PausePid)
	if !ok || state == 'Z' || state == 'X' || (p.PauseStartTime != "" && start != p.PauseStartTime) {
		return false
	}
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PausePid))
	return err == nil && strings.Contains(string(cg), p.ID)
}
