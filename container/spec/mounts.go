package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	etcHostname   = "/etc/hostname"
	etcHosts      = "/etc/hosts"
	etcResolvConf = "/etc/resolv.conf"
	devShm        = "/dev/shm"
)

// baseMounts are the kernel filesystems every container gets. /sys and
// /sys/fs/cgroup are read-only unless privileged (a container must not
// reconfigure host devices or escape its cgroup).
func baseMounts(privileged, cgroup bool) []specs.Mount {
	ro := "ro"
	if privileged {
		ro = "rw"
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: devShm, Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", ro}},
	}
	if cgroup {
		ms = append(ms, specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", ro}})
	}
	return ms
}

// containerMounts adds, in order: the kernel filesystems, then the bind
// mounts (CRI mounts and the pod's /etc/hostname, /etc/hosts,
// /etc/resolv.conf and /dev/shm) sorted by depth so that /a is mounted
// before /a/b. A CRI mount replaces a default mount at the same place; a
// CRI mount of /dev replaces everything under /dev.
//
// Image VOLUMEs are skipped (containerd's ignore_image_defined_volumes):
// the directory stays whatever the image has there, in the writable rootfs.
func containerMounts(s *specs.Spec, in Input, privileged bool) error {
	criMounts := in.Config.GetMounts()
	taken := make(map[string]bool, len(criMounts))
	for _, m := range criMounts {
		taken[path.Clean(m.GetContainerPath())] = true
	}

	binds := make([]*runtime.Mount, 0, len(criMounts)+4)
	binds = append(binds, criMounts...)
	readonlyRootfs := in.Config.GetLinux().GetSecurityContext().GetReadonlyRootfs()
	// The pod files follow the rootfs: a read-only container cannot rewrite
	// its hosts file either (containerd's rule).
	for _, f := range []struct {
		dst, src string
		ro       bool
	}{
		{etcHostname, in.HostnamePath, readonlyRootfs},
		{etcHosts, in.HostsPath, readonlyRootfs},
		{etcResolvConf, in.ResolvConfPath, readonlyRootfs},
		{devShm, in.ShmPath, false},
	} {
		if f.src == "" || taken[f.dst] {
			continue
		}
		// Unlike CRI mounts, a missing pod file is skipped, never created
		// (it would become a directory): containerd does the same.
		if _, err := os.Stat(f.src); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("stat pod file %q: %w", f.src, err)
		}
		binds = append(binds, &runtime.Mount{ContainerPath: f.dst, HostPath: f.src, Readonly: f.ro, Propagation: runtime.MountPropagation_PROPAGATION_PRIVATE})
		taken[f.dst] = true
	}

	for _, m := range baseMounts(privileged, true) {
		if taken[m.Destination] || (taken["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		s.Mounts = append(s.Mounts, m)
	}

	var resolved []specs.Mount
	for _, m := range binds {
		bm, err := bindMount(s, in.Rootfs, m)
		if err != nil {
			return err
		}
		resolved = append(resolved, bm)
	}
	sort.SliceStable(resolved, func(i, j int) bool {
		return depth(resolved[i].Destination) < depth(resolved[j].Destination)
	})
	s.Mounts = append(s.Mounts, resolved...)
	return nil
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

// bindMount turns one CRI mount into an OCI bind mount.
//
// Source: created as a directory when missing (kubelet relies on this, as
// containerd does it), then its symlinks resolved so runc mounts what the
// caller meant. Destination: resolved inside the rootfs so that a symlink in
// the image can never point the mount outside it.
//
// Propagation PRIVATE -> rprivate, HOST_TO_CONTAINER -> rslave,
// BIDIRECTIONAL -> rshared. The two latter need the source to sit on a
// shared (or slave) mount, and the rootfs propagation raised to match, or
// the mounts would never propagate.
func bindMount(s *specs.Spec, rootfs string, m *runtime.Mount) (specs.Mount, error) {
	var out specs.Mount
	src, dst := m.GetHostPath(), m.GetContainerPath()
	if src == "" {
		if m.GetImage() != nil {
			return out, fmt.Errorf("image volume mount at %q: the caller must mount the image and set host_path: %w", dst, errdefs.ErrInvalidArgument)
		}
		return out, fmt.Errorf("mount at %q has no host_path: %w", dst, errdefs.ErrInvalidArgument)
	}
	if !path.IsAbs(dst) {
		return out, fmt.Errorf("mount destination %q is not absolute: %w", dst, errdefs.ErrInvalidArgument)
	}
	if len(m.GetUidMappings()) > 0 || len(m.GetGidMappings()) > 0 {
		return out, fmt.Errorf("idmapped mount at %q needs runc >= 1.2: %w", dst, errdefs.ErrNotImplemented)
	}

	if _, err := os.Stat(src); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return out, fmt.Errorf("stat mount source %q: %w", src, err)
		}
		if err := os.MkdirAll(src, 0o755); err != nil {
			return out, fmt.Errorf("create missing mount source %q: %w", src, err)
		}
	}
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		return out, fmt.Errorf("resolve mount source %q: %w", m.GetHostPath(), err)
	}

	options := []string{"rbind"}
	switch m.GetPropagation() {
	case runtime.MountPropagation_PROPAGATION_PRIVATE:
		options = append(options, "rprivate")
	case runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		if err := checkPropagation(src, false); err != nil {
			return out, err
		}
		options = append(options, "rslave")
		if s.Linux.RootfsPropagation != "rshared" {
			s.Linux.RootfsPropagation = "rslave"
		}
	case runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		if err := checkPropagation(src, true); err != nil {
			return out, err
		}
		options = append(options, "rshared")
		s.Linux.RootfsPropagation = "rshared"
	default:
		return out, fmt.Errorf("mount %q: unknown propagation %d: %w", dst, m.GetPropagation(), errdefs.ErrInvalidArgument)
	}

	switch {
	case m.GetRecursiveReadOnly() && !m.GetReadonly():
		return out, fmt.Errorf("mount %q: recursive read-only conflicts with a read-write mount: %w", dst, errdefs.ErrInvalidArgument)
	case m.GetRecursiveReadOnly() && m.GetPropagation() != runtime.MountPropagation_PROPAGATION_PRIVATE:
		// A slave or shared mount could receive new writable submounts.
		return out, fmt.Errorf("mount %q: recursive read-only needs private propagation, got %s: %w", dst, m.GetPropagation(), errdefs.ErrInvalidArgument)
	case m.GetRecursiveReadOnly():
		// runc >= 1.1 applies "rro" with mount_setattr(AT_RECURSIVE).
		options = append(options, "rro")
	case m.GetReadonly():
		options = append(options, "ro")
	default:
		options = append(options, "rw")
	}

	target, err := resolveInRootfs(rootfs, dst)
	if err != nil {
		return out, err
	}
	return specs.Mount{Destination: target, Type: "bind", Source: src, Options: options}, nil
}

// resolveInRootfs follows the symlinks of a mount destination inside the
// rootfs and returns the resulting in-container path: "/var/run" with
// var/run -> /run in the image gives "/run", and a symlink to ../../../etc
// stays clamped inside the rootfs.
func resolveInRootfs(rootfs, dst string) (string, error) {
	full, err := securejoin.SecureJoin(rootfs, dst)
	if err != nil {
		return "", fmt.Errorf("resolve mount destination %q in rootfs: %w", dst, err)
	}
	rel, err := filepath.Rel(rootfs, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("mount destination %q resolves outside the rootfs: %w", dst, errdefs.ErrInvalidArgument)
	}
	return path.Join("/", rel), nil
}

// lookupMount is a variable so tests can fake /proc/self/mountinfo.
var lookupMount = mount.Lookup

// checkPropagation makes sure the mount holding src can propagate: shared
// for BIDIRECTIONAL, shared or slave for HOST_TO_CONTAINER.
func checkPropagation(src string, needShared bool) error {
	info, err := lookupMount(src)
	if err != nil {
		return fmt.Errorf("find the mount of %q: %w", src, err)
	}
	fields := strings.Fields(info.Optional)
	shared := slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, "shared:") })
	slave := slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, "master:") })
	switch {
	case shared:
		return nil
	case slave && !needShared:
		return nil
	case needShared:
		return fmt.Errorf("path %q is mounted on %q but it is not a shared mount: %w", src, info.Mountpoint, errdefs.ErrFailedPrecondition)
	default:
		return fmt.Errorf("path %q is mounted on %q but it is not a shared or slave mount: %w", src, info.Mountpoint, errdefs.ErrFailedPrecondition)
	}
}
