package container

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

// newCDICache reads CDI specs from dirs; none means CDI is off. The cache
// is refreshed on each container that asks for a device, not watched:
// device plugins and DRA drivers write their specs before kubelet asks for
// the devices, and a node without CDI pays nothing.
func newCDICache(dirs []string) (*cdi.Cache, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	c, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("cdi: %w", err)
	}
	return c, nil
}

// injectCDI applies the CDI devices a container asks for, by
// ContainerConfig.CDI_devices (kubelet's field) and by "cdi.k8s.io/"
// annotations (device plugins before it), to s: device nodes, env vars,
// mounts and hooks from the vendors' spec files. A device no spec file
// defines fails the container: running without the GPU it was given would
// be a silent downgrade.
func (m *Manager) injectCDI(s *specs.Spec, cfg *runtime.ContainerConfig) error {
	var devices []string
	for _, d := range cfg.GetCDIDevices() {
		devices = append(devices, d.GetName())
	}
	_, annotated, err := cdi.ParseAnnotations(cfg.GetAnnotations())
	if err != nil {
		return fmt.Errorf("cdi annotations: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	devices = append(devices, annotated...)
	if len(devices) == 0 {
		return nil
	}
	slices.Sort(devices)
	devices = slices.Compact(devices)
	if m.cdi == nil {
		return fmt.Errorf("CDI devices %s asked for, but cdi.spec_dirs is empty: %w", strings.Join(devices, ", "), errdefs.ErrFailedPrecondition)
	}
	// Errors here are about spec files; a broken one of another vendor
	// must not fail this container, an unresolved device below does.
	if err := m.cdi.Refresh(); err != nil {
		m.cfg.Log.Debug("cdi spec errors", "err", err)
	}
	unresolved, err := m.cdi.InjectDevices(s, devices...)
	if len(unresolved) > 0 {
		return fmt.Errorf("CDI devices %s are not defined in %s: %w",
			strings.Join(unresolved, ", "), strings.Join(m.cdi.GetSpecDirectories(), ", "), errdefs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("inject CDI devices %s: %v: %w", strings.Join(devices, ", "), err, errdefs.ErrFailedPrecondition)
	}
	return nil
}
