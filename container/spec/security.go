package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultCapabilities is containerd's (and Docker's) default set.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// defaultMaskedPaths and defaultReadonlyPaths are containerd's defaults
// (kubelet's DefaultProcMount list is the same). containerd also masks the
// per-CPU thermal_throttle directories, found by reading the host's /sys;
// a pure generator does not, and kubelet always sends its own list.
var (
	defaultMaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/sys/firmware", "/sys/devices/virtual/powercap", "/proc/scsi",
	}
	defaultReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// pathsOrDefault: nil means "not set" and gives the defaults; a non-nil
// empty list means none (the Unmasked ProcMount). Over gRPC an empty list
// arrives as nil, so kubelet's Unmasked gets the defaults; it needs user
// namespaces anyway, which Krill does not support.
func pathsOrDefault(paths, defaults []string) []string {
	if paths == nil {
		return slices.Clone(defaults)
	}
	return slices.Clone(paths)
}

// currentCapabilities is what "all capabilities" means: the caps krilld
// itself holds. runc cannot grant more (here CAP_SYS_RESOURCE is missing
// from root's bounding set), so asking for more would only fail later with
// an obscure EPERM. A variable so tests can fake a host.
var currentCapabilities = cap.Current

// containerCapabilities computes the bounding, permitted and effective sets
// (inheritable stays empty, as in containerd: non-root processes then lose
// them at execve, which is what Kubernetes expects). Privileged gets all
// current caps, ignoring add/drop. Otherwise: the default set, then "ALL" in add or drop, then
// the individual adds and drops. Names are accepted with or without the CAP_
// prefix, in any case. Ambient caps are added to every set (they are only
// kept if inheritable and permitted).
func containerCapabilities(c *runtime.Capability, privileged bool) (*specs.LinuxCapabilities, error) {
	all, err := currentCapabilities()
	if err != nil {
		return nil, fmt.Errorf("read krilld's capabilities: %w", err)
	}
	if privileged {
		// Privileged means everything, whatever add/drop say (containerd
		// applies WithPrivileged after the add/drop lists).
		return &specs.LinuxCapabilities{Bounding: slices.Clone(all), Permitted: slices.Clone(all), Effective: slices.Clone(all)}, nil
	}
	set := slices.Clone(defaultCapabilities)
	add, err := capNames(c.GetAddCapabilities())
	if err != nil {
		return nil, err
	}
	drop, err := capNames(c.GetDropCapabilities())
	if err != nil {
		return nil, err
	}
	ambient, err := capNames(c.GetAddAmbientCapabilities())
	if err != nil {
		return nil, err
	}
	if slices.Contains(add, "ALL") {
		set = slices.Clone(all)
	}
	if slices.Contains(drop, "ALL") {
		set = nil
	}
	for _, name := range append(slices.Clone(add), ambient...) {
		if name == "ALL" || slices.Contains(set, name) {
			continue
		}
		if !slices.Contains(all, name) {
			return nil, fmt.Errorf("capability %s is not held by the runtime, it cannot be granted: %w", name, errdefs.ErrFailedPrecondition)
		}
		set = append(set, name)
	}
	set = slices.DeleteFunc(set, func(name string) bool { return slices.Contains(drop, name) })
	ambient = slices.DeleteFunc(ambient, func(name string) bool { return !slices.Contains(set, name) })
	// A nil slice marshals as null; runc treats both as empty, tests and
	// readers prefer [].
	if set == nil {
		set = []string{}
	}
	caps := &specs.LinuxCapabilities{
		Bounding:  set,
		Permitted: slices.Clone(set),
		Effective: slices.Clone(set),
	}
	if len(ambient) > 0 {
		caps.Ambient = ambient
		caps.Inheritable = slices.Clone(ambient)
	}
	return caps, nil
}

// capNames normalises CRI capability names ("net_admin", "CAP_NET_ADMIN")
// to "CAP_NET_ADMIN", keeping "ALL". Unknown names are refused: runc would
// only warn and ignore them, hiding a typo.
func capNames(names []string) ([]string, error) {
	known := cap.Known()
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.ToUpper(strings.TrimSpace(n))
		if n == "ALL" {
			out = append(out, n)
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("unknown capability %q: %w", n, errdefs.ErrInvalidArgument)
		}
		out = append(out, n)
	}
	return out, nil
}

// nativeArch is the seccomp name of the architecture krilld was built for,
// "" where it is not known (see nativeABIOnly).
var nativeArch = map[string]specs.Arch{
	"amd64":   specs.ArchX86_64,
	"arm64":   specs.ArchAARCH64,
	"386":     specs.ArchX86,
	"arm":     specs.ArchARM,
	"ppc64le": specs.ArchPPC64LE,
	"s390x":   specs.ArchS390X,
	"riscv64": specs.ArchRISCV64,
}[goruntime.GOARCH]

// nativeABIOnly narrows a runtime default profile to the native syscall
// ABI, dropping the compat ones (x86 and x32 on amd64, arm on arm64), whose
// syscalls then kill the process. Only for the pause container: it is a
// native binary making a handful of syscalls, so this is stricter at no
// cost, and runc compiles a third of the filter (about 10 ms less per pod
// here). App containers keep the compat ABIs: 32-bit programs are legal.
func nativeABIOnly(p *specs.LinuxSeccomp) {
	if p == nil || nativeArch == "" || !slices.Contains(p.Architectures, nativeArch) {
		return
	}
	p.Architectures = []specs.Arch{nativeArch}
}

// Seccomp profile strings of the deprecated seccomp_profile_path field.
const (
	profileRuntimeDefault = "runtime/default"
	profileDockerDefault  = "docker/default"
	profileUnconfined     = "unconfined"
	profileLocalhost      = "localhost/"
)

// seccompProfile returns the seccomp filter: the SecurityProfile field wins,
// else the deprecated path string. Unset gives runtime default for the
// sandbox and unconfined for containers (containerd's behaviour, asserted by
// critest). Privileged containers never get a filter. The capabilities
// must already be in s: the default profile allows syscalls per capability.
// runtimeDefault tells the result is the built-in profile.
func seccompProfile(s *specs.Spec, sp *runtime.SecurityProfile, legacy string, privileged, defaultWhenUnset bool) (_ *specs.LinuxSeccomp, runtimeDefault bool, _ error) {
	if privileged {
		return nil, false, nil
	}
	if sp == nil {
		var err error
		if sp, err = legacyProfile(legacy); err != nil {
			return nil, false, fmt.Errorf("seccomp: %w", err)
		}
	}
	if sp == nil {
		if !defaultWhenUnset {
			return nil, false, nil
		}
		sp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	}
	if sp.GetProfileType() != runtime.SecurityProfile_Localhost && sp.GetLocalhostRef() != "" {
		return nil, false, fmt.Errorf("seccomp: localhost_ref is only valid with the Localhost profile type: %w", errdefs.ErrInvalidArgument)
	}
	switch sp.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return nil, false, nil
	case runtime.SecurityProfile_RuntimeDefault:
		return seccomp.DefaultProfile(s), true, nil
	case runtime.SecurityProfile_Localhost:
		p, err := loadSeccompProfile(strings.TrimPrefix(sp.GetLocalhostRef(), profileLocalhost))
		return p, false, err
	default:
		return nil, false, fmt.Errorf("seccomp: unknown profile type %d: %w", sp.GetProfileType(), errdefs.ErrInvalidArgument)
	}
}

// legacyProfile parses seccomp_profile_path / apparmor_profile strings;
// "" gives nil (unset).
func legacyProfile(p string) (*runtime.SecurityProfile, error) {
	switch {
	case p == "":
		return nil, nil
	case p == profileRuntimeDefault || p == profileDockerDefault:
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}, nil
	case p == profileUnconfined:
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, nil
	case strings.HasPrefix(p, profileLocalhost) && len(p) > len(profileLocalhost):
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: strings.TrimPrefix(p, profileLocalhost)}, nil
	}
	return nil, fmt.Errorf("invalid profile %q: %w", p, errdefs.ErrInvalidArgument)
}

// loadSeccompProfile reads an OCI seccomp JSON profile. kubelet sends
// absolute paths (it resolves them under its own seccomp root); Krill has no
// profile root of its own, so a relative one is refused.
func loadSeccompProfile(ref string) (*specs.LinuxSeccomp, error) {
	if ref == "" {
		return nil, fmt.Errorf("seccomp: Localhost profile without a path: %w", errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(ref) {
		return nil, fmt.Errorf("seccomp: profile path %q is not absolute: %w", ref, errdefs.ErrInvalidArgument)
	}
	file := ref
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seccomp: profile %q: %w", file, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("seccomp: read profile %q: %w", file, err)
	}
	var profile specs.LinuxSeccomp
	if err := json.Unmarshal(data, &profile); err != nil {
		return nil, fmt.Errorf("seccomp: decode profile %q: %v: %w", file, err, errdefs.ErrInvalidArgument)
	}
	return &profile, nil
}
