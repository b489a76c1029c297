package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// errNotDevice marks a path that is not a block or character device.
var errNotDevice = errors.New("not a device node")

// hostDevRoot is where privileged containers' devices come from; a
// variable so tests can point it at a small tree.
var hostDevRoot = "/dev"

// addDevices maps the CRI devices: each host device node (or every device
// under a host directory) appears at the container path, and the device
// cgroup allows it with the requested permissions.
func addDevices(s *specs.Spec, devices []*runtime.Device) error {
	for _, d := range devices {
		perms := d.GetPermissions()
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return fmt.Errorf("device %q: invalid permissions %q: %w", d.GetHostPath(), perms, errdefs.ErrInvalidArgument)
		}
		if !path.IsAbs(d.GetContainerPath()) {
			return fmt.Errorf("device %q: container path %q is not absolute: %w", d.GetHostPath(), d.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
		src, err := filepath.EvalSymlinks(d.GetHostPath())
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("device %q: %w", d.GetHostPath(), errdefs.ErrNotFound)
			}
			return fmt.Errorf("device %q: %w", d.GetHostPath(), err)
		}
		found, err := devicesAt(src, path.Clean(d.GetContainerPath()))
		if errors.Is(err, errNotDevice) {
			return fmt.Errorf("device %q: %v: %w", d.GetHostPath(), err, errdefs.ErrInvalidArgument)
		}
		if err != nil {
			return fmt.Errorf("device %q: %w", d.GetHostPath(), err)
		}
		for _, dev := range found {
			s.Linux.Devices = append(s.Linux.Devices, dev)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{
				Allow: true, Type: dev.Type, Major: &dev.Major, Minor: &dev.Minor, Access: perms,
			})
		}
	}
	return nil
}

// hostDevices lists every host device for a privileged container, skipping
// the directories that are per-container mounts (pts, shm, mqueue), fd
// links and the console (runc sets up its own).
func hostDevices() ([]specs.LinuxDevice, error) {
	devs, err := devicesAt(hostDevRoot, "/dev")
	if err != nil {
		return nil, fmt.Errorf("list host devices: %w", err)
	}
	return devs, nil
}

// devicesAt returns the device at src (a node) or the devices below it (a
// directory), placed under dst in the container. A single node that is not
// a device is an error; inside a directory, non-devices are skipped.
func devicesAt(src, dst string) ([]specs.LinuxDevice, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		dev, err := deviceFromPath(src, dst)
		if err != nil {
			return nil, err
		}
		return []specs.LinuxDevice{dev}, nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var out []specs.LinuxDevice
	for _, e := range entries {
		name := e.Name()
		s, d := filepath.Join(src, name), path.Join(dst, name)
		if e.IsDir() {
			switch name {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				continue
			}
			sub, err := devicesAt(s, d)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		if name == "console" {
			continue
		}
		dev, err := deviceFromPath(s, d)
		if errors.Is(err, errNotDevice) || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, dev)
	}
	return out, nil
}

// deviceFromPath describes the device node at src (not following a final
// symlink) for runc to mknod (or bind) at dst, keeping the host's mode and
// owner.
func deviceFromPath(src, dst string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return specs.LinuxDevice{}, &fs.PathError{Op: "lstat", Path: src, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	default:
		return specs.LinuxDevice{}, fmt.Errorf("%s: %w", src, errNotDevice)
	}
	mode := fs.FileMode(st.Mode &^ unix.S_IFMT)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path:     dst,
		Type:     typ,
		Major:    int64(unix.Major(st.Rdev)),
		Minor:    int64(unix.Minor(st.Rdev)),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}
