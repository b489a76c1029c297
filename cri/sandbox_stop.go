package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopPodSandbox stops a pod's containers, its pause and its network.
func (s *Server) StopPodSandbox(ctx context.Context, r *runtime.StopPodSandboxRequest) (*runtime.StopPodSandboxResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.pods.Stop(ctx, r.GetPodSandboxId(), s.containers); err != nil {
		return nil, err
	}
	return &runtime.StopPodSandboxResponse{}, nil
}
