package spec

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Namespaces are the namespace files an application container joins; they
// belong to the pod's pause container (or the node).
//
// NetNS, IPC and UTS: a path joins that namespace, "" means the host's. A pod
// that does not use the host network/IPC must pass the pause container's
// paths: Generate refuses "" for them rather than silently running the
// container in the host namespace.
//
// PID depends on the container's PID NamespaceMode: POD joins the path (the
// pause container's PID namespace), TARGET joins the path (the target
// container's), CONTAINER creates a new namespace and ignores the path, NODE
// uses the host's.
type Namespaces struct{ NetNS, IPC, UTS, PID, User string }

// Input is everything Generate needs. Fields after DaemonOOMScoreAdj are
// Krill additions to the design contract; their zero values are safe.
type Input struct {
	ID      string
	Config  *runtime.ContainerConfig
	Sandbox *runtime.PodSandboxConfig
	Image   ocispec.ImageConfig
	// Rootfs is the mounted rootfs (absolute). It becomes spec.Root.Path and
	// is read for /etc/passwd, /etc/group and to resolve mount targets.
	Rootfs     string
	Namespaces Namespaces
	// Sandbox files bind-mounted into the container ("" = none). ShmPath ""
	// gives the container a private 64 MiB /dev/shm tmpfs; host IPC pods
	// should pass "/dev/shm".
	HostnamePath, HostsPath, ResolvConfPath, ShmPath string
	CgroupsPath                                      string
	// DaemonOOMScoreAdj is krilld's own oom_score_adj: a container never
	// gets a lower one (the host cannot lower it, see machine notes).
	DaemonOOMScoreAdj int

	// SandboxID and ImageName feed the io.kubernetes.cri.* annotations.
	SandboxID string
	ImageName string
	// RunAsNonRoot refuses a process that would run as uid 0. CRI has no
	// such field (kubelet checks it before calling us); a caller may set it
	// as a node policy.
	RunAsNonRoot bool
	// UnifiedCgroups is true on a pure cgroup v2 host: non-privileged
	// containers then get a private cgroup namespace, like containerd.
	UnifiedCgroups bool
	// AllowedAnnotations are the CRI annotations that reach the spec.
	AllowedAnnotations AllowedAnnotations
	// AppArmor is the host's AppArmor; nil or disabled means the host has
	// none, and only an unset or Unconfined profile is accepted.
	AppArmor AppArmor
}

// Generate returns the OCI spec of an application container. Errors wrap
// errdefs.ErrInvalidArgument (bad request), ErrFailedPrecondition (the
// request conflicts with the pod, image or host), ErrNotFound (a user, group
// or profile that does not exist) or ErrNotImplemented.
//
// Linux.Resources only holds device rules: the caller adds the cgroup
// resources with MergeResources.
func Generate(in Input) (*specs.Spec, error) {
	if in.ID == "" {
		return nil, fmt.Errorf("generate spec: empty container id: %w", errdefs.ErrInvalidArgument)
	}
	if in.Config == nil {
		return nil, fmt.Errorf("generate spec for container %s: no container config: %w", in.ID, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(in.Rootfs) {
		return nil, fmt.Errorf("generate spec for container %s: rootfs %q is not an absolute path: %w", in.ID, in.Rootfs, errdefs.ErrInvalidArgument)
	}
	s, err := generate(in)
	if err != nil {
		return nil, fmt.Errorf("generate spec for container %s: %w", in.ID, err)
	}
	return s, nil
}

// generate builds the spec in the order a reader would explain it: what
// runs, as whom, in which namespaces, with which privileges and devices,
// then the mounts and the bookkeeping (OOM score, annotations). Seccomp
// must come after capabilities: the default profile allows syscalls per
// capability.
func generate(in Input) (*specs.Spec, error) {
	sc := in.Config.GetLinux().GetSecurityContext()
	privileged := sc.GetPrivileged()
	if privileged && !in.Sandbox.GetLinux().GetSecurityContext().GetPrivileged() {
		// containerd and CRI-O refuse it too: the pod's sandbox was made
		// without privileges the container would then escape.
		return nil, fmt.Errorf("privileged container %q in a non-privileged pod: set privileged in the pod's security context too: %w",
			in.Config.GetMetadata().GetName(), errdefs.ErrInvalidArgument)
	}

	s := &specs.Spec{
		Version: OCIVersion,
		Root:    &specs.Root{Path: in.Rootfs, Readonly: sc.GetReadonlyRootfs()},
		Process: &specs.Process{Terminal: in.Config.GetTty()},
		Linux: &specs.Linux{
			CgroupsPath: in.CgroupsPath,
			// Default deny; runc appends its safe defaults (/dev/null,
			// /dev/zero, ...) and Devices below adds what was asked for.
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		},
	}

	// What runs.
	args, err := processArgs(in.Config, &in.Image)
	if err != nil {
		return nil, err
	}
	s.Process.Args = args
	hostname := in.Sandbox.GetHostname()
	if hostname == "" {
		// Host-network pods without a hostname see the node's.
		if hostname, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("read host name: %w", err)
		}
	}
	s.Process.Env = processEnv(hostname, in.Image.Env, in.Config.GetEnvs())
	s.Process.Cwd = processCwd(in.Config.GetWorkingDir(), in.Image.WorkingDir)

	// As whom.
	userstr, err := userString(sc.GetRunAsUsername(), sc.GetRunAsUser(), sc.GetRunAsGroup(), in.Image.User)
	if err != nil {
		return nil, err
	}
	u, err := resolveUser(in.Rootfs, userstr, sc.GetSupplementalGroupsPolicy(), sc.GetSupplementalGroups())
	if err != nil {
		return nil, err
	}
	if in.RunAsNonRoot && u.UID == 0 {
		return nil, fmt.Errorf("container has runAsNonRoot and image will run as root (user %q): %w", userstr, errdefs.ErrFailedPrecondition)
	}
	s.Process.User = u

	// Where: namespaces (mounts last, below).
	ns, err := containerNamespaces(in)
	if err != nil {
		return nil, err
	}
	s.Linux.Namespaces = ns

	// With which privileges.
	s.Process.NoNewPrivileges = sc.GetNoNewPrivs()
	caps, err := containerCapabilities(sc.GetCapabilities(), privileged)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = caps
	if !privileged {
		s.Linux.MaskedPaths = pathsOrDefault(sc.GetMaskedPaths(), defaultMaskedPaths)
		s.Linux.ReadonlyPaths = pathsOrDefault(sc.GetReadonlyPaths(), defaultReadonlyPaths)
	}
	//lint:ignore SA1019 the deprecated field is still sent
	aa, err := appArmorProfile(in.AppArmor, sc.GetApparmor(), sc.GetApparmorProfile(), privileged)
	if err != nil {
		return nil, err
	}
	s.Process.ApparmorProfile = aa
	// An unset seccomp profile means unconfined for containers (critest
	// "should support nil profile, which is unconfined"); kubelet always
	// sets one explicitly.
	//lint:ignore SA1019 the deprecated field is still sent
	seccomp, _, err := seccompProfile(s, sc.GetSeccomp(), sc.GetSeccompProfilePath(), privileged, false)
	if err != nil {
		return nil, err
	}
	s.Linux.Seccomp = seccomp

	// Devices.
	if privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = devs
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	if err := addDevices(s, in.Config.GetDevices()); err != nil {
		return nil, err
	}

	// Mounts last: a missing CRI mount source is created on the host, so
	// every other check must have passed first.
	if err := containerMounts(s, in, privileged); err != nil {
		return nil, err
	}
	if err := containerUserns(s, in); err != nil {
		return nil, err
	}

	adj := oomScoreAdj(int(in.Config.GetLinux().GetResources().GetOomScoreAdj()), in.DaemonOOMScoreAdj)
	s.Process.OOMScoreAdj = &adj

	s.Annotations = containerAnnotations(in)
	return s, nil
}

// oomScoreAdj never goes below the daemon's own score: an unprivileged
// (or CAP_SYS_RESOURCE-less) runc cannot lower it, and a container must not
// outlive krilld under memory pressure. Same as containerd's
// restrict_oom_score_adj.
func oomScoreAdj(want, daemon int) int {
	return max(want, daemon)
}

// MergeResources sets the cgroup resources the cgroups package mapped from
// the CRI request, keeping the device rules Generate wrote (default deny,
// CRI devices, or allow-all for privileged). Overwriting Linux.Resources
// directly would drop them and give the container every host device.
func MergeResources(s *specs.Spec, r *specs.LinuxResources) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	var devices []specs.LinuxDeviceCgroup
	if s.Linux.Resources != nil {
		devices = s.Linux.Resources.Devices
	}
	if r == nil {
		r = &specs.LinuxResources{}
	}
	merged := *r
	merged.Devices = append(devices, r.Devices...)
	s.Linux.Resources = &merged
}

// OCIVersion is the ociVersion Krill's specs declare: 1.1.0, not the Go
// module's newer specs.Version, because every field Krill writes exists in
// 1.1 (idmapped mounts are the newest) and crun before 1.9 (Debian 12's
// 1.8.1) refuses any spec newer than 1.1 ("unknown version specified");
// runc does not check it.
const OCIVersion = "1.1.0"
