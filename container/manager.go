package container

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/nri"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// Config wires a Manager.
type Config struct {
	StateDir           string // state/containers: one OCI bundle per container
	Containers         *store.Store[store.Container]
	Sandboxes          *sandbox.Manager
	Images             Images        // *image.Service
	Runtimes           *oci.Handlers // a container runs under its pod's handler
	Cgroups            *cgroups.Manager
	Events             *events.Broadcaster // lifecycle events for GetContainerEvents
	DaemonOOMScoreAdj  int
	NRI                *nri.Service            // node resource plugins; nil or disabled: none
	AllowedAnnotations spec.AllowedAnnotations // CRI annotations passed into OCI specs
	// AppArmor is the host's AppArmor (apparmor.Host); nil is a host
	// without it.
	AppArmor    spec.AppArmor
	CDISpecDirs []string // CDI spec directories; none = CDI off
	Log         *slog.Logger
}

// Manager runs app containers.
type Manager struct {
	// cfg is not embedded: other packages call methods, never reach
	// through to the stores and managers a container is made with.
	cfg Config
	cdi *cdi.Cache // nil when CDI is off
	// runtimeFor looks a handler's runtime up (handler; a fake in tests).
	runtimeFor func(name string) (ociRuntime, error)
	// unmountAll unmounts everything on a rootfs (mount.UnmountAll; a
	// fake in tests, which run without the right to unmount).
	unmountAll func(target string) error

	names *store.Names
	locks store.Locks // one lifecycle call per object at a time
	// exited is closed per container when its waiter recorded the exit.
	exited sync.Map // container ID -> chan struct{}
	exitMu sync.Mutex
}

// New returns a Manager over the records in cfg.Containers.
func New(cfg Config) (*Manager, error) {
	// 0711 here, 0700 for each bundle (0710 for the remapped root of a
	// user-namespaced pod, see sandbox.ShareWithUserns): the bundles hold
	// mounted rootfs, and a host user who could walk into them could run
	// an image's setuid binaries (CVE-2021-41103).
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.StateDir, 0o711); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cdiCache, err := newCDICache(cfg.CDISpecDirs)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, names: store.NewNames("container"), cdi: cdiCache}
	m.runtimeFor = m.handler
	m.unmountAll = func(target string) error { return mount.UnmountAll(target, 0) }
	for _, c := range cfg.Containers.List() {
		m.names.Reserve(nameKey(c.PodID, c.Config.GetMetadata()), c.ID)
	}
	return m, nil
}

// AppArmorEnabled reports whether containers get AppArmor profiles.
func (m *Manager) AppArmorEnabled() bool { return m.cfg.AppArmor != nil && m.cfg.AppArmor.Enabled() }

// Get returns a container record by ID or unique ID prefix.
func (m *Manager) Get(id string) (store.Container, error) { return m.cfg.Containers.Get(id) }

func nameKey(podID string, md *runtime.ContainerMetadata) string {
	return fmt.Sprintf("%s_%s_%d", md.GetName(), podID, md.GetAttempt())
}

// runtime returns the OCI runtime of a container: its pod's handler.
func (m *Manager) runtime(c store.Container) (ociRuntime, error) {
	rt, err := m.runtimeFor(c.Runtime)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	return rt, nil
}

// runtimeOf is runtime for callers holding only an ID.
func (m *Manager) runtimeOf(id string) (ociRuntime, error) {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return nil, err
	}
	return m.runtime(c)
}

func (m *Manager) bundle(id string) string { return filepath.Join(m.cfg.StateDir, id) }

// podContainers lists the records of one pod.
func (m *Manager) podContainers(podID string) []store.Container {
	var out []store.Container
	for _, c := range m.cfg.Containers.List() {
		if c.PodID == podID {
			out = append(out, c)
		}
	}
	return out
}

var _ sandbox.PodContainers = (*Manager)(nil)

// StopPodContainers implements sandbox.PodContainers.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	for _, c := range m.podContainers(podID) {
		if err := m.Stop(ctx, c.ID, 0); err != nil {
			return err
		}
	}
	return nil
}

// RemovePodContainers implements sandbox.PodContainers.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	for _, c := range m.podContainers(podID) {
		if err := m.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}
