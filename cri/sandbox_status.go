package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSandboxStatus reports a pod's state, IPs and namespaces.
func (s *Server) PodSandboxStatus(ctx context.Context, r *runtime.PodSandboxStatusRequest) (*runtime.PodSandboxStatusResponse, error) {
	if err := requireID("pod sandbox", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	st, info, err := s.pods.Status(ctx, r.GetPodSandboxId(), r.GetVerbose(), s.containers)
	if err != nil {
		return nil, err
	}
	resp := &runtime.PodSandboxStatusResponse{Status: st, Info: info}
	for _, c := range s.containers.List(&runtime.ContainerFilter{PodSandboxId: st.Id}) {
		if cs, _, err := s.containers.Status(ctx, c.Id, false); err == nil {
			resp.ContainersStatuses = append(resp.ContainersStatuses, cs)
		}
	}
	return resp, nil
}
