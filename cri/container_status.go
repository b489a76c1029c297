package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus reports state, times, exit code and reason.
func (s *Server) ContainerStatus(ctx context.Context, r *runtime.ContainerStatusRequest) (*runtime.ContainerStatusResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	st, info, err := s.containers.Status(ctx, r.GetContainerId(), r.GetVerbose())
	if err != nil {
		return nil, err
	}
	return &runtime.ContainerStatusResponse{Status: st, Info: info}, nil
}
