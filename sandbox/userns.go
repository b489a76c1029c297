package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/store"
)

// checkUserns refuses a user-namespaced pod under a handler whose runtime
// cannot idmap mounts (runc < 1.2): its volumes would show up owned by
// nobody. The message names the handlers that can.
func (m *Manager) checkUserns(ctx context.Context, handler string) error {
	rt, err := m.cfg.Runtimes.Get(handler)
	if err != nil {
		return err
	}
	f, err := rt.Features(ctx)
	if err == nil && f.UserNamespaces {
		return nil
	}
	var able []string
	for _, name := range m.cfg.Runtimes.Names() {
		if r, _ := m.cfg.Runtimes.Get(name); r != nil {
			if rf, err := r.Features(ctx); err == nil && rf.UserNamespaces {
				able = append(able, name)
			}
		}
	}
	return fmt.Errorf("runtime handler %q (%s) cannot run pods with a user namespace: it has no idmapped mounts (runc >= 1.2 has); handlers that can: [%s]: %w",
		handler, f.Version, strings.Join(able, ", "), errdefs.ErrFailedPrecondition)
}

// kernelMountpoints creates, as the host's root, the directories pause's
// kernel filesystems are mounted on. In a user namespace runc works as the
// pod's root, which does not own the image's files and so could not create
// them in a pause image that lacks them.
func kernelMountpoints(pod store.Pod, rootfs string) error {
	if m, _ := spec.PodUserns(pod.Config); m == nil {
		return nil
	}
	for _, d := range []string{"proc", "dev", "sys"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("pause rootfs: %w", err)
		}
	}
	return nil
}

// ShareWithUserns opens dirs (a pod's or container's own directories on
// the way to its rootfs, /dev/shm and host files) to the root of a
// user-namespaced pod and to no one else: group-owned by the host GID its
// root maps to, mode 0710. runc's init works in the container as that
// root, and must get through them to mount the rootfs; host users still
// cannot, as the directories stay closed to "other" (containerd gives
// such bundles the same 0710 and remapped group). Pods without a user
// namespace keep 0700 directories.
func ShareWithUserns(pod *runtime.PodSandboxConfig, dirs ...string) error {
	m, _ := spec.PodUserns(pod)
	if m == nil || len(m.GIDs) == 0 {
		return nil
	}
	gid := int(m.GIDs[0].HostID)
	for _, d := range dirs {
		if err := os.Chown(d, 0, gid); err != nil {
			return fmt.Errorf("share %s with the pod's user namespace: %w", d, err)
		}
		if err := os.Chmod(d, 0o710); err != nil {
			return fmt.Errorf("share %s with the pod's user namespace: %w", d, err)
		}
	}
	return nil
}
