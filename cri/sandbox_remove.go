package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemovePodSandbox removes a pod and everything it owns.
func (s *Server) RemovePodSandbox(ctx context.Context, r *runtime.RemovePodSandboxRequest) (*runtime.RemovePodSandboxResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.pods.Remove(ctx, r.GetPodSandboxId(), s.containers); err != nil {
		return nil, err
	}
	return &runtime.RemovePodSandboxResponse{}, nil
}
