package container

import (
	"fmt"
	"os"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"

	"github.com/krill-runtime/krill/container/spec"
)

// idmapRootfs makes a user-namespaced container's rootfs its own, without
// copying or chowning the image: containerd's mount code idmaps the
// image's layers through the pod's mapping ("uidmap="/"gidmap=" overlay
// options: a temporary idmapped mount of the layers' parent, which the
// overlay keeps), and the container's root gets the still empty upper
// directory (its writable layer), where what it writes lands under its
// own host IDs. Overlayfs itself cannot be idmapped; its layers can
// (Linux >= 5.19).
func idmapRootfs(mounts []mount.Mount, m *spec.IDMap) error {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return fmt.Errorf("user namespace: rootfs is not one overlay mount (%d mounts): %w", len(mounts), errdefs.ErrNotImplemented)
	}
	u, g := m.UIDs[0], m.GIDs[0]
	opts := mounts[0].Options
	for _, o := range opts {
		if upper, ok := strings.CutPrefix(o, "upperdir="); ok {
			if err := os.Lchown(upper, int(u.HostID), int(g.HostID)); err != nil {
				return fmt.Errorf("user namespace: give the writable layer to the container's root: %w", err)
			}
		}
	}
	mounts[0].Options = append(opts,
		fmt.Sprintf("uidmap=%d:%d:%d", u.ContainerID, u.HostID, u.Size),
		fmt.Sprintf("gidmap=%d:%d:%d", g.ContainerID, g.HostID, g.Size))
	return nil
}
