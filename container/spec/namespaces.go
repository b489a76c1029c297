package spec

import (
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerNamespaces lists the namespaces of an application container. It
// always gets its own mount namespace; network, IPC and UTS are the pod's
// (joined by path) or the host's; PID follows the container's own mode.
//
// Network and IPC modes are read from the pod config, not the container's:
// they are pod-wide (kubelet copies them into every container config, but
// critest does not always), and containerd likewise ignores the container's
// copy.
func containerNamespaces(in Input) ([]specs.LinuxNamespace, error) {
	podNS := in.Sandbox.GetLinux().GetSecurityContext().GetNamespaceOptions()
	ctrNS := in.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostNet := podNS.GetNetwork() == runtime.NamespaceMode_NODE
	hostIPC := podNS.GetIpc() == runtime.NamespaceMode_NODE

	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	join := func(t specs.LinuxNamespaceType, path string, host bool) error {
		if path != "" {
			ns = append(ns, specs.LinuxNamespace{Type: t, Path: path})
			return nil
		}
		if !host {
			// A wiring bug must not put a pod's container in the host's
			// namespace.
			return fmt.Errorf("no %s namespace path for a pod that does not use the host's: %w", t, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if err := join(specs.NetworkNamespace, in.Namespaces.NetNS, hostNet); err != nil {
		return nil, err
	}
	if err := join(specs.IPCNamespace, in.Namespaces.IPC, hostIPC); err != nil {
		return nil, err
	}
	// The pause container has a private UTS namespace exactly when it has a
	// private network namespace (kubelet's hostname semantics).
	if err := join(specs.UTSNamespace, in.Namespaces.UTS, hostNet); err != nil {
		return nil, err
	}

	switch mode := ctrNS.GetPid(); mode {
	case runtime.NamespaceMode_NODE:
	case runtime.NamespaceMode_CONTAINER:
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	case runtime.NamespaceMode_POD, runtime.NamespaceMode_TARGET:
		if in.Namespaces.PID == "" {
			return nil, fmt.Errorf("pid namespace mode %s needs a pid namespace path: %w", mode, errdefs.ErrInvalidArgument)
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: in.Namespaces.PID})
	default:
		return nil, fmt.Errorf("unknown pid namespace mode %d: %w", mode, errdefs.ErrInvalidArgument)
	}

	if in.UnifiedCgroups && !in.Config.GetLinux().GetSecurityContext().GetPrivileged() {
		// On cgroup v1/hybrid a cgroup namespace would hide nothing useful
		// and break tools expecting the host layout (containerd does the
		// same).
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns, nil
}
