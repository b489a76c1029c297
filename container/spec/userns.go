package spec

import (
	"fmt"
	"path"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// IDMap is a pod's user namespace (KEP-127): one UID and one GID range,
// container ID 0 first, as kubelet allocates them.
type IDMap struct {
	UIDs, GIDs []specs.LinuxIDMapping
}

// PodUserns returns the pod's ID mappings, or nil when the pod uses the
// host's user namespace. It refuses what kubelet never sends and runtimes
// must reject (critest checks each): modes CONTAINER and TARGET, more than
// one range, and a range that does not map container ID 0.
func PodUserns(cfg *runtime.PodSandboxConfig) (*IDMap, error) {
	opts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetUsernsOptions()
	if opts == nil {
		return nil, nil // POD is the zero mode, but no options at all is the host's
	}
	switch opts.GetMode() {
	case runtime.NamespaceMode_NODE:
		if len(opts.GetUids()) > 0 || len(opts.GetGids()) > 0 {
			return nil, fmt.Errorf("user namespace mode NODE takes no ID mappings: %w", errdefs.ErrInvalidArgument)
		}
		return nil, nil
	case runtime.NamespaceMode_POD:
	default:
		return nil, fmt.Errorf("user namespace mode %s is not supported (only NODE and POD): %w", opts.GetMode(), errdefs.ErrInvalidArgument)
	}
	uids, err := idMapping("uid", opts.GetUids())
	if err != nil {
		return nil, err
	}
	gids, err := idMapping("gid", opts.GetGids())
	if err != nil {
		return nil, err
	}
	return &IDMap{UIDs: uids, GIDs: gids}, nil
}

func idMapping(kind string, m []*runtime.IDMapping) ([]specs.LinuxIDMapping, error) {
	if len(m) != 1 {
		return nil, fmt.Errorf("user namespace: %d %s mappings, want exactly one: %w", len(m), kind, errdefs.ErrInvalidArgument)
	}
	if m[0].GetContainerId() != 0 || m[0].GetLength() == 0 {
		return nil, fmt.Errorf("user namespace: %s mapping %d:%d:%d does not map container ID 0: %w",
			kind, m[0].GetContainerId(), m[0].GetHostId(), m[0].GetLength(), errdefs.ErrInvalidArgument)
	}
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: m[0].GetHostId(), Size: m[0].GetLength()}}, nil
}

// withUserns puts s in the pod's user namespace: a new one for pause
// (path ""), pause's for a container. The mappings are given either way:
// runc checks them against a joined namespace.
//
// The pod's network namespace is made by krilld, so it belongs to the
// host's user namespace, and the kernel lets only that namespace's root
// mount sysfs for it: /sys becomes a read-only bind of the host's instead
// (the same view a container with the host network gets).
func withUserns(s *specs.Spec, m *IDMap, path string) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: path})
	s.Linux.UIDMappings, s.Linux.GIDMappings = m.UIDs, m.GIDs
	for i, mt := range s.Mounts {
		if mt.Type == "sysfs" {
			s.Mounts[i] = specs.Mount{Destination: mt.Destination, Type: "bind", Source: "/sys",
				Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// idmapMounts makes the CRI volumes of a user-namespaced container
// idmapped mounts (runc >= 1.2): files the host's root owns appear owned
// by the container's root instead of nobody.
func idmapMounts(s *specs.Spec, m *IDMap, volumes map[string]bool) {
	for i, mt := range s.Mounts {
		if mt.Type == "bind" && volumes[mt.Destination] {
			s.Mounts[i].UIDMappings, s.Mounts[i].GIDMappings = m.UIDs, m.GIDs
		}
	}
}

// containerUserns puts a container of a user-namespaced pod in pause's
// user namespace, with idmapped volumes. The container's own copy of the
// options is not read: the user namespace is pod-wide (like the network).
func containerUserns(s *specs.Spec, in Input) error {
	m, err := PodUserns(in.Sandbox)
	if err != nil || m == nil {
		return err
	}
	if in.Namespaces.User == "" {
		return fmt.Errorf("no user namespace path for a pod with its own user namespace: %w", errdefs.ErrInvalidArgument)
	}
	withUserns(s, m, in.Namespaces.User)
	volumes := map[string]bool{}
	for _, v := range in.Config.GetMounts() {
		volumes[path.Clean(v.GetContainerPath())] = true
	}
	idmapMounts(s, m, volumes)
	return nil
}
