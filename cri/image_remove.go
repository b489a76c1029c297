package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes what the reference names: by ID the whole image, by
// tag or digest just that name (the image goes with its last tag).
// Removing an image that is not there succeeds, as CRI requires.
func (s *Server) RemoveImage(ctx context.Context, r *runtime.RemoveImageRequest) (*runtime.RemoveImageResponse, error) {
	if err := s.images.Remove(ctx, r.GetImage().GetImage()); err != nil {
		return nil, err
	}
	return &runtime.RemoveImageResponse{}, nil
}
