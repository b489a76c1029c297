package spec

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultSandboxOOMScoreAdj is what kubelet uses for sandboxes: the pause
// container should be the last thing killed, it holds the pod's namespaces.
// Clamped to the daemon's own score like every container.
const defaultSandboxOOMScoreAdj = -998

// SandboxInput is everything GenerateSandbox needs for a pod's pause
// container.
type SandboxInput struct {
	ID     string
	Config *runtime.PodSandboxConfig
	// Image is the pause image's config: its Entrypoint/Cmd (e.g. /pause)
	// is what runs.
	Image ocispec.ImageConfig
	// Rootfs is the mounted pause rootfs (absolute); it is mounted read-only.
	Rootfs string
	// NetNSPath is the pod's network namespace (from the network package);
	// "" only for host-network pods.
	NetNSPath   string
	CgroupsPath string
	// DaemonOOMScoreAdj is krilld's own oom_score_adj (see Input).
	DaemonOOMScoreAdj int
	// Hostname overrides Config.Hostname ("" = use the config's).
	Hostname string

	// Krill additions.
	ImageName      string // for the podsandbox.image-name annotation
	UnifiedCgroups bool   // private cgroup namespace on pure cgroup v2

	// AllowedAnnotations are the CRI annotations that reach the spec.
	AllowedAnnotations AllowedAnnotations
	// EnableUnprivilegedPorts sets net.ipv4.ip_unprivileged_port_start=0 and
	// EnableUnprivilegedICMP net.ipv4.ping_group_range="0 2147483647" in
	// pods with their own network namespace, unless the pod sets them
	// (containerd 2.x enables both by default).
	EnableUnprivilegedPorts, EnableUnprivilegedICMP bool
}

// GenerateSandbox returns the OCI spec of a pod's pause container. The
// pause container owns the pod's namespaces: it creates the IPC, UTS and PID
// namespaces (each unless the pod uses the host's) and joins the network
// namespace prepared by the network package. It runs the image's entrypoint
// as a nobody-like process: read-only rootfs, no new privileges, no
// capabilities, seccomp (runtime default unless the pod says otherwise),
// masked /proc. The pod's namespaced sysctls are applied here, once, in the
// namespaces every container of the pod then joins.
func GenerateSandbox(in SandboxInput) (*specs.Spec, error) {
	if in.ID == "" {
		return nil, fmt.Errorf("generate sandbox spec: empty pod id: %w", errdefs.ErrInvalidArgument)
	}
	if in.Config == nil {
		return nil, fmt.Errorf("generate sandbox spec for pod %s: no pod config: %w", in.ID, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(in.Rootfs) {
		return nil, fmt.Errorf("generate sandbox spec for pod %s: rootfs %q is not an absolute path: %w", in.ID, in.Rootfs, errdefs.ErrInvalidArgument)
	}
	s, err := generateSandbox(in)
	if err != nil {
		return nil, fmt.Errorf("generate sandbox spec for pod %s: %w", in.ID, err)
	}
	return s, nil
}

func generateSandbox(in SandboxInput) (*specs.Spec, error) {
	sc := in.Config.GetLinux().GetSecurityContext()
	nsOpts := sc.GetNamespaceOptions()
	hostNet := nsOpts.GetNetwork() == runtime.NamespaceMode_NODE
	hostIPC := nsOpts.GetIpc() == runtime.NamespaceMode_NODE
	hostPID := nsOpts.GetPid() == runtime.NamespaceMode_NODE

	args := append(append([]string{}, in.Image.Entrypoint...), in.Image.Cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("pause image has neither entrypoint nor cmd: %w", errdefs.ErrInvalidArgument)
	}
	s := &specs.Spec{
		Version: OCIVersion,
		Root:    &specs.Root{Path: in.Rootfs, Readonly: true},
		Process: &specs.Process{
			Args:            args,
			Env:             mergeEnv([]string{defaultPath}, in.Image.Env),
			Cwd:             processCwd("", in.Image.WorkingDir),
			NoNewPrivileges: true,
			// pause only waits for signals and reaps children.
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{}, Permitted: []string{}, Effective: []string{}},
		},
		Linux: &specs.Linux{
			CgroupsPath:   in.CgroupsPath,
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths:   slices.Clone(defaultMaskedPaths),
			ReadonlyPaths: slices.Clone(defaultReadonlyPaths),
		},
		// sysfs has one superblock per network namespace and pause mounts
		// the pod's first: a read-only one would make /sys read-only for
		// the pod's privileged containers too, whatever their mount says.
		Mounts: baseMounts(sc.GetPrivileged(), false),
	}

	userstr, err := userString("", sc.GetRunAsUser(), sc.GetRunAsGroup(), in.Image.User)
	if err != nil {
		return nil, err
	}
	u, err := resolveUser(in.Rootfs, userstr, runtime.SupplementalGroupsPolicy_Strict, sc.GetSupplementalGroups())
	if err != nil {
		return nil, err
	}
	s.Process.User = u

	// Namespaces: the pod's own unless it asked for the node's.
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if !hostNet {
		if in.NetNSPath == "" {
			return nil, fmt.Errorf("no network namespace path for a pod without host network: %w", errdefs.ErrInvalidArgument)
		}
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath},
			specs.LinuxNamespace{Type: specs.UTSNamespace})
		s.Hostname = in.Hostname
		if s.Hostname == "" {
			s.Hostname = in.Config.GetHostname()
		}
	}
	if !hostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	if !hostPID {
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if in.UnifiedCgroups && !sc.GetPrivileged() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	s.Linux.Namespaces = ns
	userns, err := PodUserns(in.Config)
	if err != nil {
		return nil, err
	}
	if userns != nil {
		withUserns(s, userns, "")
	}

	sysctls := maps.Clone(in.Config.GetLinux().GetSysctls())
	if err := ValidateSysctls(sysctls, hostNet, hostIPC); err != nil {
		return nil, err
	}
	// With a user namespace the pod's root does not own the network
	// namespace (the host's user namespace does), so the kernel would refuse
	// these writes; they are conveniences, so they are left out.
	if !hostNet && userns == nil {
		if sysctls == nil {
			sysctls = map[string]string{}
		}
		if _, set := sysctls["net.ipv4.ip_unprivileged_port_start"]; in.EnableUnprivilegedPorts && !set {
			sysctls["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
		if _, set := sysctls["net.ipv4.ping_group_range"]; in.EnableUnprivilegedICMP && !set {
			sysctls["net.ipv4.ping_group_range"] = "0 2147483647"
		}
	}
	if len(sysctls) > 0 {
		s.Linux.Sysctl = sysctls
	}

	// The sandbox security context has no AppArmor field; seccomp applies.
	//lint:ignore SA1019 the deprecated field is still sent
	seccomp, runtimeDefault, err := seccompProfile(s, sc.GetSeccomp(), sc.GetSeccompProfilePath(), sc.GetPrivileged(), true)
	if err != nil {
		return nil, err
	}
	if runtimeDefault {
		nativeABIOnly(seccomp)
	}
	s.Linux.Seccomp = seccomp

	adj := oomScoreAdj(defaultSandboxOOMScoreAdj, in.DaemonOOMScoreAdj)
	s.Process.OOMScoreAdj = &adj
	s.Annotations = sandboxAnnotations(in)
	return s, nil
}
