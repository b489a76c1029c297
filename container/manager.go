package container

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/nri"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// Config wires a Manager.
type Config struct {
	StateDir           string // state/containers: one OCI bundle per container
	Containers         *store.Store[store.Container]
	Pods               *sandbox.Manager
	Images             *image.Service
	Runtime            *oci.Runtime
	Cgroups            *cgroups.Manager
	Events             *events.Broadcaster // lifecycle events for GetContainerEvents
	DaemonOOMScoreAdj  int
	SeccompProfileRoot string
	NRI                *nri.Service            // node resource plugins; nil or disabled: none
	AllowedAnnotations spec.AllowedAnnotations // CRI annotations passed into OCI specs
	// AppArmor is the host's AppArmor (apparmor.Host); nil is a host
	// without it.
	AppArmor spec.AppArmor
	Log      *slog.Logger
}

// Manager runs app containers.
type Manager struct {
	Config

	names *store.Names
	locks store.Locks // one lifecycle call per object at a time
	// exited is closed per container when its waiter recorded the exit.
	exited sync.Map // container ID -> chan struct{}
	exitMu sync.Mutex
}

// New returns a Manager over the records in cfg.Containers.
func New(cfg Config) (*Manager, error) {
	// 0700: the bundles hold mounted rootfs; a host user who could walk
	// into them could run an image's setuid binaries (CVE-2021-41103).
	// Chmod fixes a directory an older krilld made 0711.
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Manager{Config: cfg, names: store.NewNames("container")}
	for _, c := range cfg.Containers.List() {
		m.names.Reserve(nameKey(c.PodID, c.Config.GetMetadata()), c.ID)
	}
	return m, nil
}

// AppArmorEnabled reports whether containers get AppArmor profiles.
func (m *Manager) AppArmorEnabled() bool { return m.AppArmor != nil && m.AppArmor.Enabled() }

// Get returns a container record by ID or unique ID prefix.
func (m *Manager) Get(id string) (store.Container, error) { return m.Containers.Get(id) }

func nameKey(podID string, md *runtime.ContainerMetadata) string {
	return fmt.Sprintf("%s_%s_%d", md.GetName(), podID, md.GetAttempt())
}

func (m *Manager) bundle(id string) string { return filepath.Join(m.StateDir, id) }

// podContainers lists the records of one pod.
func (m *Manager) podContainers(podID string) []store.Container {
	var out []store.Container
	for _, c := range m.Containers.List() {
		if c.PodID == podID {
			out = append(out, c)
		}
	}
	return out
}

// StopPodContainers implements sandbox.ContainerReaper.
func (m *Manager) StopPodContainers(ctx context.Context, podID string) error {
	for _, c := range m.podContainers(podID) {
		if err := m.Stop(ctx, c.ID, 0); err != nil {
			return err
		}
	}
	return nil
}

// RemovePodContainers implements sandbox.ContainerReaper.
func (m *Manager) RemovePodContainers(ctx context.Context, podID string) error {
	for _, c := range m.podContainers(podID) {
		if err := m.Remove(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}
