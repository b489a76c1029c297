package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, r *runtime.StartContainerRequest) (*runtime.StartContainerResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.containers.Start(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtime.StartContainerResponse{}, nil
}
