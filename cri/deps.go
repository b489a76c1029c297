package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/streaming"
)

// The CRI layer talks to the pod and container managers (*sandbox.Manager,
// *container.Manager, wired by cmd/krilld) through the interfaces below,
// so it links in neither them nor what they are made of (records, cgroups):
// it only translates. Every type in them is the CRI's or the standard
// library's.

// Pods is the pod side (*sandbox.Manager).
type Pods interface {
	Run(ctx context.Context, cfg *runtime.PodSandboxConfig, handler string) (string, error)
	Stop(ctx context.Context, id string, ctrs podContainers) error
	Remove(ctx context.Context, id string, ctrs podContainers) error
	Status(ctx context.Context, id string, verbose bool, ctrs podContainers) (*runtime.PodSandboxStatus, map[string]string, error)
	ListFiltered(f *runtime.PodSandboxFilter, ctrs podContainers) []*runtime.PodSandbox
	Known(id string) error
	Stats(id string) (*runtime.PodSandboxStats, error) // the pod's own; cri adds the containers'
	ListStats(f *runtime.PodSandboxStatsFilter) []*runtime.PodSandboxStats
	ListMetrics() []*runtime.PodSandboxMetrics // pod level; cri adds the containers'
	MetricDescriptors() []*runtime.MetricDescriptor
}

// podContainers is sandbox.PodContainers: the same interface literal, so
// the two are one type and *sandbox.Manager's methods match Pods.
type podContainers = interface {
	StopPodContainers(ctx context.Context, podID string) error
	RemovePodContainers(ctx context.Context, podID string) error
	ContainerStatuses(podID string) []*runtime.ContainerStatus
}

// Containers is the container side (*container.Manager). It is also the
// podContainers handed to Pods and the streaming.Backend of ExecSync.
type Containers interface {
	podContainers
	streaming.Backend
	Create(ctx context.Context, podID string, cfg *runtime.ContainerConfig) (string, error)
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, timeout int64) error
	Remove(ctx context.Context, id string) error
	Status(ctx context.Context, id string, verbose bool) (*runtime.ContainerStatus, map[string]string, error)
	List(f *runtime.ContainerFilter) []*runtime.Container
	UpdateResources(ctx context.Context, id string, res *runtime.LinuxContainerResources) error
	ReopenLog(ctx context.Context, id string) error
	Stats(ctx context.Context, id string) (*runtime.ContainerStats, error)
	ListStats(ctx context.Context, f *runtime.ContainerStatsFilter) []*runtime.ContainerStats
	Metrics(ctx context.Context, podID string) []*runtime.ContainerMetrics
	AppArmorEnabled() bool
}

// Cgroups is what the CRI layer reports about the host's cgroups
// (*cgroups.Manager): the layout and the driver krilld settled on.
type Cgroups interface {
	Mode() string   // "v1", "hybrid", "v2"
	Driver() string // "cgroupfs" or "systemd"
	Root() string
}
