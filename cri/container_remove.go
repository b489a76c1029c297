package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveContainer removes a container and its rootfs, cgroup and bundle.
func (s *Server) RemoveContainer(ctx context.Context, r *runtime.RemoveContainerRequest) (*runtime.RemoveContainerResponse, error) {
	if err := requireID("container", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.containers.Remove(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtime.RemoveContainerResponse{}, nil
}
