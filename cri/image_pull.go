package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PullImage pulls an image (with the credentials kubelet passes, which
// never reach a log line) and answers with its ID, the config digest.
func (s *Server) PullImage(ctx context.Context, r *runtime.PullImageRequest) (*runtime.PullImageResponse, error) {
	img, err := s.images.Pull(ctx, r.GetImage().GetImage(), r.GetAuth())
	if err != nil {
		return nil, err
	}
	return &runtime.PullImageResponse{ImageRef: img.ID}, nil
}
