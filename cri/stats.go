package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// ContainerStats reports one container's usage from its cgroup.
func (s *Server) ContainerStats(ctx context.Context, r *runtime.ContainerStatsRequest) (*runtime.ContainerStatsResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	st, err := s.containers.Stats(ctx, r.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtime.ContainerStatsResponse{Stats: st}, nil
}

// ListContainerStats reports usage of the containers matching the filter.
func (s *Server) ListContainerStats(ctx context.Context, r *runtime.ListContainerStatsRequest) (*runtime.ListContainerStatsResponse, error) {
	return &runtime.ListContainerStatsResponse{Stats: s.containers.ListStats(ctx, r.GetFilter())}, nil
}

// PodSandboxStats reports a pod's usage: its cgroup, network and containers.
func (s *Server) PodSandboxStats(ctx context.Context, r *runtime.PodSandboxStatsRequest) (*runtime.PodSandboxStatsResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	p, err := s.pods.Get(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtime.PodSandboxStatsResponse{Stats: s.podStats(ctx, p)}, nil
}

// ListPodSandboxStats reports usage of the pods matching the filter.
func (s *Server) ListPodSandboxStats(ctx context.Context, r *runtime.ListPodSandboxStatsRequest) (*runtime.ListPodSandboxStatsResponse, error) {
	f := r.GetFilter()
	var out []*runtime.PodSandboxStats
	for _, p := range s.pods.List() {
		if f != nil && (!store.MatchID(p.ID, f.Id) || !store.MatchLabels(p.Config.GetLabels(), f.LabelSelector)) {
			continue
		}
		out = append(out, s.podStats(ctx, p))
	}
	return &runtime.ListPodSandboxStatsResponse{Stats: out}, nil
}

func (s *Server) podStats(ctx context.Context, p store.Pod) *runtime.PodSandboxStats {
	linux := &runtime.LinuxPodSandboxStats{
		Network:    sandbox.NetworkStats(p),
		Containers: s.containers.ListStats(ctx, &runtime.ContainerStatsFilter{PodSandboxId: p.ID}),
	}
	path := s.pods.PodCgroup(p)
	if cs, err := s.pods.Cgroups.Stats(path); err == nil {
		linux.Cpu, linux.Memory = container.CgroupStats(path, cs)
		linux.Process = &runtime.ProcessUsage{Timestamp: cs.Timestamp.UnixNano(), ProcessCount: &runtime.UInt64Value{Value: cs.PidsCurrent}}
	}
	return &runtime.PodSandboxStats{
		Attributes: &runtime.PodSandboxAttributes{
			Id: p.ID, Metadata: p.Config.GetMetadata(), Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

// ListMetricDescriptors names the cAdvisor-style metrics Krill reports.
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtime.ListMetricDescriptorsRequest) (*runtime.ListMetricDescriptorsResponse, error) {
	return &runtime.ListMetricDescriptorsResponse{Descriptors: cgroups.MetricDescriptors()}, nil
}

// ListPodSandboxMetrics reports those metrics per pod and container: the
// pod's cgroup and network counters at pod level, the rest per container.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtime.ListPodSandboxMetricsRequest) (*runtime.ListPodSandboxMetricsResponse, error) {
	var out []*runtime.PodSandboxMetrics
	for _, p := range s.pods.List() {
		pm := &runtime.PodSandboxMetrics{PodSandboxId: p.ID, ContainerMetrics: s.containers.Metrics(ctx, p)}
		if cs, err := s.pods.Cgroups.Stats(s.pods.PodCgroup(p)); err == nil {
			md := p.Config.GetMetadata()
			pm.Metrics = cgroups.Metrics(cs, cgroups.MetricLabels{Pod: md.GetName(), Namespace: md.GetNamespace(), ID: p.ID}, nil)
		}
		pm.Metrics = append(pm.Metrics, container.PodNetworkMetrics(p)...)
		out = append(out, pm)
	}
	return &runtime.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}
