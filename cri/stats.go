package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
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

// PodSandboxStats reports a pod's usage: its own (sandbox) and its
// containers'.
func (s *Server) PodSandboxStats(ctx context.Context, r *runtime.PodSandboxStatsRequest) (*runtime.PodSandboxStatsResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	st, err := s.pods.Stats(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	s.addContainerStats(ctx, st)
	return &runtime.PodSandboxStatsResponse{Stats: st}, nil
}

// ListPodSandboxStats reports usage of the pods matching the filter.
func (s *Server) ListPodSandboxStats(ctx context.Context, r *runtime.ListPodSandboxStatsRequest) (*runtime.ListPodSandboxStatsResponse, error) {
	out := s.pods.ListStats(r.GetFilter())
	for _, st := range out {
		s.addContainerStats(ctx, st)
	}
	return &runtime.ListPodSandboxStatsResponse{Stats: out}, nil
}

func (s *Server) addContainerStats(ctx context.Context, st *runtime.PodSandboxStats) {
	st.Linux.Containers = s.containers.ListStats(ctx, &runtime.ContainerStatsFilter{PodSandboxId: st.Attributes.Id})
}

// ListMetricDescriptors names the cAdvisor-style metrics Krill reports.
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtime.ListMetricDescriptorsRequest) (*runtime.ListMetricDescriptorsResponse, error) {
	return &runtime.ListMetricDescriptorsResponse{Descriptors: s.pods.MetricDescriptors()}, nil
}

// ListPodSandboxMetrics reports those metrics per pod and container: the
// pod's cgroup and network counters at pod level, the rest per container.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtime.ListPodSandboxMetricsRequest) (*runtime.ListPodSandboxMetricsResponse, error) {
	out := s.pods.ListMetrics()
	for _, pm := range out {
		pm.ContainerMetrics = s.containers.Metrics(ctx, pm.PodSandboxId)
	}
	return &runtime.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}
