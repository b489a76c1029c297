package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/image"
)

// ImageStatus describes one image. An unknown image is not an error: the
// answer just has no image, which is how kubelet learns it must pull.
func (s *Server) ImageStatus(ctx context.Context, r *runtime.ImageStatusRequest) (*runtime.ImageStatusResponse, error) {
	img, err := s.images.Get(ctx, r.GetImage().GetImage())
	if errdefs.IsNotFound(err) {
		return &runtime.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtime.ImageStatusResponse{Image: toCRIImage(img)}
	if r.GetVerbose() {
		info, err := imageInfo(img)
		if err != nil {
			return nil, err
		}
		resp.Info = info
	}
	return resp, nil
}

// toCRIImage maps an image to its CRI form, shared by status and list.
func toCRIImage(img *image.Image) *runtime.Image {
	uid, username := imageUser(img.Config.User)
	return &runtime.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Uid:         uid,
		Username:    username,
		Spec:        &runtime.ImageSpec{Image: img.ID},
		Pinned:      img.Pinned,
	}
}

// imageUser splits the image USER the way kubelet expects: a numeric user
// ("1002", "1003:1004") is a UID, anything else ("www-data",
// "www-data:1004") a user name; the group part never matters here.
func imageUser(user string) (*runtime.Int64Value, string) {
	user, _, _ = strings.Cut(user, ":")
	if user == "" {
		return nil, ""
	}
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		return &runtime.Int64Value{Value: uid}, ""
	}
	return nil, user
}

// verboseImageInfo is the JSON behind the "info" key of a verbose status.
type verboseImageInfo struct {
	ChainID   string        `json:"chainID"`
	ImageSpec ocispec.Image `json:"imageSpec"`
	Pinned    bool          `json:"pinned"`
}

func imageInfo(img *image.Image) (map[string]string, error) {
	b, err := json.Marshal(verboseImageInfo{ChainID: img.ChainID, ImageSpec: img.Spec, Pinned: img.Pinned})
	if err != nil {
		return nil, fmt.Errorf("image %s: encode verbose info: %w", img.ID, err)
	}
	return map[string]string{"info": string(b)}, nil
}
