package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/nri"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// PodContainers is what the pod's story needs from the container package:
// stop or remove every container of a pod before the pod itself goes, and
// their statuses for the pod's lifecycle events. The caller passes it on
// each call that may stop the pod or announce it: package container imports
// sandbox, never the other way, and nothing is wired in after construction.
//
// It is an alias of an interface literal, not a named type: package cri
// declares the same literal and so describes Manager's methods in an
// interface of its own without importing sandbox.
type PodContainers = interface {
	StopPodContainers(ctx context.Context, podID string) error
	RemovePodContainers(ctx context.Context, podID string) error
	ContainerStatuses(podID string) []*runtime.ContainerStatus
}

// Config wires a Manager.
type Config struct {
	StateDir          string // state/pods
	NetnsDir          string // state/netns, where package network keeps netns files
	Pods              *store.Store[store.Pod]
	Images            Images        // *image.Service
	Network           Network       // *network.Manager
	Runtimes          *oci.Handlers // one OCI runtime per RuntimeClass handler
	Cgroups           *cgroups.Manager
	Events            *events.Broadcaster // the pod's own lifecycle events
	DaemonOOMScoreAdj int
	NRI               *nri.Service // node resource plugins; nil or disabled: none
	// AllowedAnnotations are the pod annotations passed into the pause spec.
	AllowedAnnotations spec.AllowedAnnotations
	Log                *slog.Logger
}

// Manager runs pod sandboxes.
type Manager struct {
	// cfg is not embedded: other packages call methods, never reach
	// through to the stores and managers a pod is made with.
	cfg Config

	// names reserves "name_namespace_uid_attempt" while a pod is made so
	// two concurrent RunPodSandbox calls cannot both create it.
	names *store.Names
	locks store.Locks // one lifecycle call per object at a time
	gates gates       // container creates against Stop/Remove, see Use
}

// New returns a Manager over the records in cfg.Pods.
func New(cfg Config) (*Manager, error) {
	// 0711: host users may not list the pods; each pod's own directory,
	// which holds the pause rootfs and the pod's shm tmpfs (mode 1777
	// inside), is 0700 (0710 for the remapped root of a user-namespaced
	// pod, see ShareWithUserns), so none of them can be reached.
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, err
	}
	if err := os.Chmod(cfg.StateDir, 0o711); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Manager{cfg: cfg, names: store.NewNames("pod")}
	for _, p := range cfg.Pods.List() {
		m.names.Reserve(nameKey(p.Config.GetMetadata()), p.ID)
	}
	return m, nil
}

// Get returns the record of a pod by ID or unique ID prefix.
func (m *Manager) Get(id string) (store.Pod, error) { return m.cfg.Pods.Get(id) }

// Known is nil when pod id (or a unique prefix) exists, else NotFound.
func (m *Manager) Known(id string) error {
	_, err := m.cfg.Pods.Get(id)
	return err
}

// List returns every pod record.
func (m *Manager) List() []store.Pod { return m.cfg.Pods.List() }

func nameKey(md *runtime.PodSandboxMetadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", md.GetName(), md.GetNamespace(), md.GetUid(), md.GetAttempt())
}

// podDir is where a pod's files (hostname, hosts, resolv.conf, shm) live.
func (m *Manager) podDir(id string) string { return filepath.Join(m.cfg.StateDir, id) }

// pauseBundle is the OCI bundle of the pod's pause container.
func (m *Manager) pauseBundle(id string) string { return filepath.Join(m.cfg.StateDir, id, "bundle") }

// HostFiles returns the pod files containers bind-mount.
func (m *Manager) HostFiles(p store.Pod) (hostname, hosts, resolv, shm string) {
	d := m.podDir(p.ID)
	shm = filepath.Join(d, "shm")
	if p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions().GetIpc() == runtime.NamespaceMode_NODE {
		shm = "/dev/shm"
	}
	return filepath.Join(d, "hostname"), filepath.Join(d, "hosts"), filepath.Join(d, "resolv.conf"), shm
}

// NamespacePath returns /proc/<pause>/ns/<kind> for containers to join.
// The pid may have been reused by a stranger since: callers check
// CheckPause before and after the namespaces are joined.
func NamespacePath(p store.Pod, kind string) string {
	return fmt.Sprintf("/proc/%d/ns/%s", p.PausePid, kind)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
