package cgroups

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/containerd/errdefs"
)

// Cgroup drivers: who creates a container's cgroup. The name is kubelet's
// cgroupDriver and the CRI's RuntimeConfig value.
const (
	// DriverCgroupfs: runc makes the cgroup directory itself; paths look
	// like "/kubepods/burstable/pod<uid>/<id>".
	DriverCgroupfs = "cgroupfs"
	// DriverSystemd: runc asks systemd (over D-Bus) for a transient scope
	// unit "krill-<id>.scope" in the pod's slice; parents are slice names
	// like "kubepods-burstable-pod<uid>.slice". systemd then owns the tree,
	// and nothing else may write to it behind systemd's back.
	DriverSystemd = "systemd"
	// DriverAuto picks systemd when systemd is PID 1 on a pure cgroup v2
	// host, cgroupfs otherwise (see ChooseDriver).
	DriverAuto = "auto"
)

// DefaultParent holds the cgroups of pods created without a cgroup parent
// (crictl, critest) under the cgroupfs driver; kubelet always passes one.
const DefaultParent = "/krill"

// DefaultSlice is DefaultParent for the systemd driver: systemd makes the
// slice unit when a scope is first started in it.
const DefaultSlice = "krill.slice"

// scopePrefix is the middle part of runc's "slice:prefix:name" cgroupsPath:
// containers become krill-<id>.scope units, as containerd's become
// cri-containerd-<id>.scope and CRI-O's crio-<id>.scope.
const scopePrefix = "krill"

// ChooseDriver resolves the configured driver name. "auto" becomes systemd
// when the host is pure cgroup v2 and booted by systemd: there systemd
// already manages the whole cgroup tree and expects to be its only writer
// (kubeadm, EKS and k3s configure kubelet with the systemd driver on such
// nodes, and kubelet >= 1.31 takes the driver from RuntimeConfig). Anywhere
// else (this cgroup v1 host without systemd, containers, v1 systemd hosts)
// "auto" keeps cgroupfs. "systemd" without systemd running is refused
// (FailedPrecondition): runc could not create a single container.
func ChooseDriver(name, mode string, systemdBooted bool) (string, error) {
	switch name {
	case "", DriverCgroupfs:
		return DriverCgroupfs, nil
	case DriverAuto:
		if mode == ModeV2 && systemdBooted {
			return DriverSystemd, nil
		}
		return DriverCgroupfs, nil
	case DriverSystemd:
		if !systemdBooted {
			return "", fmt.Errorf("cgroup driver systemd: systemd is not running on this host (no /run/systemd/system); use cgroupfs: %w", errdefs.ErrFailedPrecondition)
		}
		return DriverSystemd, nil
	}
	return "", fmt.Errorf("unknown cgroup driver %q (supported: cgroupfs, systemd, auto): %w", name, errdefs.ErrInvalidArgument)
}

// SystemdBooted reports whether the host runs systemd as its init, the way
// sd_booted(3) tells: systemd creates /run/systemd/system at boot.
func SystemdBooted() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// ContainerPath is the OCI cgroupsPath of container (or pause container) id
// in a pod whose cgroup parent is parent, for driver:
//   - cgroupfs: parent + "/" + id, always absolute; "" means DefaultParent.
//     It must be absolute: runc resolves a relative cgroupsPath against its
//     own cgroup, and krilld's shell runs inside memory:/process_api/...,
//     so containers would nest there.
//   - systemd: runc's "slice:krill:id", slice being the parent's last
//     element (kubelet sends "kubepods-burstable-pod<uid>.slice"; a full
//     path is cut to its last slice, as containerd does); "" means
//     DefaultSlice.
//
// ids are Krill's own hex IDs; a parent is checked by ValidateParent first.
func ContainerPath(driver, parent, id string) string {
	if driver == DriverSystemd {
		slice := DefaultSlice
		if parent != "" {
			slice = path.Base(parent)
		}
		return slice + ":" + scopePrefix + ":" + id
	}
	if parent == "" {
		parent = DefaultParent
	}
	return path.Join("/", parent, id)
}

// ValidateParent refuses cgroup parents Krill cannot use with driver: a
// systemd slice under cgroupfs, a cgroupfs path under systemd (each means
// kubelet's cgroupDriver and krilld's disagree), a slice name systemd would
// refuse, or a path climbing out of the hierarchy.
func ValidateParent(driver, parent string) error {
	if parent == "" {
		return nil
	}
	for _, elem := range strings.Split(parent, "/") {
		if elem == ".." {
			return fmt.Errorf("cgroup parent %q must not contain \"..\": %w", parent, errdefs.ErrInvalidArgument)
		}
	}
	base := path.Base(parent)
	isSlice := strings.HasSuffix(base, ".slice")
	switch {
	case driver == DriverSystemd && !isSlice:
		return fmt.Errorf("cgroup parent %q is a cgroupfs path but krilld uses the systemd cgroup driver; set kubelet's cgroupDriver to systemd: %w", parent, errdefs.ErrInvalidArgument)
	case driver != DriverSystemd && (isSlice || strings.Contains(parent, ".slice/")):
		return fmt.Errorf("cgroup parent %q is a systemd slice but krilld uses the cgroupfs cgroup driver; set kubelet's cgroupDriver to cgroupfs or krilld's cgroup.driver to systemd: %w", parent, errdefs.ErrInvalidArgument)
	case driver == DriverSystemd:
		if _, err := ExpandSlice(base); err != nil {
			return err
		}
	}
	return nil
}

// ExpandSlice turns a systemd slice unit name into its cgroup directory the
// way systemd names them: every dash opens a level, so
// "kubepods-burstable-pod1.slice" lives at
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
// and "-.slice" is the root. Names with an empty level ("a--b.slice",
// "-a.slice", "a-.slice") or a slash are refused, as systemd refuses them.
func ExpandSlice(slice string) (string, error) {
	name, ok := strings.CutSuffix(slice, ".slice")
	if !ok || name == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("%q is not a systemd slice name: %w", slice, errdefs.ErrInvalidArgument)
	}
	if name == "-" {
		return "/", nil
	}
	var dir, prefix string
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			return "", fmt.Errorf("systemd slice %q has an empty level: %w", slice, errdefs.ErrInvalidArgument)
		}
		dir += "/" + prefix + part + ".slice"
		prefix += part + "-"
	}
	return dir, nil
}

// cleanPath turns a cgroup path from a caller into the clean absolute
// directory it names below a hierarchy root, which cannot escape it. It
// takes every form Krill records:
//   - a cgroupfs path ("/kubepods/pod1/<id>");
//   - runc's systemd cgroupsPath "slice:prefix:name", the directory of the
//     scope "prefix-name.scope" in the expanded slice (runc names the unit
//     "name" itself when name ends in ".slice");
//   - a bare slice name (a pod's systemd cgroup parent).
//
// The root itself is refused because no container lives there.
func cleanPath(p string) (string, error) {
	dir := p
	if slice, unit, ok := systemdUnit(p); ok {
		sliceDir, err := ExpandSlice(slice)
		if err != nil {
			return "", fmt.Errorf("cgroup path %q: %w", p, err)
		}
		dir = path.Join(sliceDir, unit)
	} else if !strings.Contains(p, "/") && strings.HasSuffix(p, ".slice") {
		sliceDir, err := ExpandSlice(p)
		if err != nil {
			return "", fmt.Errorf("cgroup path %q: %w", p, err)
		}
		dir = sliceDir
	}
	clean := path.Clean("/" + dir)
	if p == "" || clean == "/" {
		return "", fmt.Errorf("cgroup path %q: a container cgroup path is required: %w", p, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// systemdUnit splits runc's "slice:prefix:name" into the slice and the unit
// runc creates in it; ok is false for any other form.
func systemdUnit(p string) (slice, unit string, ok bool) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 || strings.Contains(p, "/") || parts[2] == "" {
		return "", "", false
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice" // runc's default
	}
	if strings.HasSuffix(name, ".slice") {
		return slice, name, true
	}
	if prefix != "" {
		name = prefix + "-" + name
	}
	return slice, name + ".scope", true
}
