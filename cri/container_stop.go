package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops a container: stop signal, timeout, SIGKILL.
func (s *Server) StopContainer(ctx context.Context, r *runtime.StopContainerRequest) (*runtime.StopContainerResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.containers.Stop(ctx, r.GetContainerId(), r.GetTimeout()); err != nil {
		return nil, err
	}
	return &runtime.StopContainerResponse{}, nil
}
