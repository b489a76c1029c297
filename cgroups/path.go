package cgroups

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/errdefs"
)

// DefaultParent holds the cgroups of pods created without a cgroup parent
// (crictl, critest); kubelet always passes one.
const DefaultParent = "/krill"

// ContainerPath is the cgroupfs-driver cgroup of container (or pause
// container) id under the pod's parent: parent + "/" + id, always absolute.
// kubelet passes parents like "/kubepods/burstable/pod<uid>"; an empty parent
// means DefaultParent.
//
// The path must be absolute in the OCI spec: runc resolves a relative
// cgroupsPath against its own cgroup, and krilld's shell runs inside
// memory:/process_api/..., so containers would nest there. ids are Krill's
// own hex IDs; a parent is checked by ValidateParent.
func ContainerPath(parent, id string) string {
	if parent == "" {
		parent = DefaultParent
	}
	return path.Join("/", parent, id)
}

// ValidateDriver accepts the cgroup driver names Krill implements.
func ValidateDriver(name string) error {
	switch name {
	case "", "cgroupfs":
		return nil
	case "systemd":
		return fmt.Errorf("cgroup driver systemd is not supported yet; use cgroupfs: %w", errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("unknown cgroup driver %q (supported: cgroupfs): %w", name, errdefs.ErrInvalidArgument)
}

// ValidateParent refuses cgroup parents Krill cannot use with the cgroupfs
// driver: a systemd slice name (kubelet configured with cgroupDriver: systemd)
// or a path climbing out of the hierarchy.
func ValidateParent(parent string) error {
	if parent == "" {
		return nil
	}
	if strings.HasSuffix(parent, ".slice") || strings.Contains(parent, ".slice/") {
		return fmt.Errorf("cgroup parent %q is a systemd slice; Krill uses the cgroupfs driver, set kubelet's cgroupDriver to cgroupfs: %w", parent, errdefs.ErrInvalidArgument)
	}
	for _, elem := range strings.Split(parent, "/") {
		if elem == ".." {
			return fmt.Errorf("cgroup parent %q must not contain \"..\": %w", parent, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// cleanPath turns a cgroup path from a caller into a clean absolute path
// that cannot escape a hierarchy root; the root itself is refused because no
// container lives there.
func cleanPath(p string) (string, error) {
	clean := path.Clean("/" + p)
	if p == "" || clean == "/" {
		return "", fmt.Errorf("cgroup path %q: a container cgroup path is required: %w", p, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}
