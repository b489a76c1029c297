package spec

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// AppArmor is what spec generation needs of the host's AppArmor
// (apparmor.Host on a real host, a fake in tests).
type AppArmor interface {
	// Enabled: the kernel enforces AppArmor and profiles can be loaded.
	Enabled() bool
	// Loaded reports whether a profile of that name is loaded.
	Loaded(profile string) (bool, error)
	// EnsureDefault loads the runtime's default profile if needed and
	// returns its name.
	EnsureDefault() (string, error)
}

// appArmorProfile decides the AppArmor profile of a container's process
// ("" = none), the way containerd does:
//   - on a host without AppArmor, an unset or Unconfined profile runs
//     unconfined and anything else is refused (FailedPrecondition): a
//     container must not silently run less confined than it asked. CRI-O
//     ignores the request there instead; Krill follows containerd;
//   - unset means the runtime default (kubernetes#51746);
//   - RuntimeDefault loads and applies the default profile, except for
//     privileged containers, which run unconfined as on containerd and
//     CRI-O;
//   - Localhost applies a profile that is loaded, and refuses one that is
//     not (FailedPrecondition), rather than let runc fail at start;
//   - Unconfined applies none.
//
// legacy is the deprecated apparmor_profile string, used when sp is nil.
func appArmorProfile(host AppArmor, sp *runtime.SecurityProfile, legacy string, privileged bool) (string, error) {
	if sp == nil {
		var err error
		if sp, err = legacyProfile(legacy); err != nil {
			return "", fmt.Errorf("apparmor: %w", err)
		}
	}
	if sp != nil && sp.GetProfileType() != runtime.SecurityProfile_Localhost && sp.GetLocalhostRef() != "" {
		return "", fmt.Errorf("apparmor: localhost_ref is only valid with the Localhost profile type: %w", errdefs.ErrInvalidArgument)
	}
	if host == nil || !host.Enabled() {
		if sp == nil || sp.GetProfileType() == runtime.SecurityProfile_Unconfined {
			return "", nil
		}
		return "", fmt.Errorf("apparmor profile %s requested but AppArmor is not enabled on the host: %w", describeProfile(sp), errdefs.ErrFailedPrecondition)
	}
	if sp == nil {
		sp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	}
	switch sp.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return "", nil
	case runtime.SecurityProfile_RuntimeDefault:
		if privileged {
			return "", nil
		}
		name, err := host.EnsureDefault()
		if err != nil {
			return "", fmt.Errorf("apparmor: %w", err)
		}
		return name, nil
	case runtime.SecurityProfile_Localhost:
		name := strings.TrimPrefix(sp.GetLocalhostRef(), profileLocalhost)
		if name == "" {
			return "", fmt.Errorf("apparmor: Localhost profile without a name: %w", errdefs.ErrInvalidArgument)
		}
		loaded, err := host.Loaded(name)
		if err != nil {
			return "", fmt.Errorf("apparmor: %w", err)
		}
		if !loaded {
			return "", fmt.Errorf("apparmor profile %q is not loaded on the host: %w", name, errdefs.ErrFailedPrecondition)
		}
		return name, nil
	default:
		return "", fmt.Errorf("apparmor: unknown profile type %d: %w", sp.GetProfileType(), errdefs.ErrInvalidArgument)
	}
}

func describeProfile(sp *runtime.SecurityProfile) string {
	if sp.GetProfileType() == runtime.SecurityProfile_Localhost {
		return fmt.Sprintf("%q", sp.GetLocalhostRef())
	}
	return sp.GetProfileType().String()
}
