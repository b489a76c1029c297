package cri

import (
	"context"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageFsInfo reports the disk use of the image store, which kubelet
// weighs against the filesystem's size for image garbage collection.
// Container writable layers live in the same store, so no separate
// container filesystem is reported.
func (s *Server) ImageFsInfo(ctx context.Context, _ *runtime.ImageFsInfoRequest) (*runtime.ImageFsInfoResponse, error) {
	mountpoint, used, inodes, err := s.images.FsInfo(ctx)
	if err != nil {
		return nil, err
	}
	return &runtime.ImageFsInfoResponse{
		ImageFilesystems: []*runtime.FilesystemUsage{{
			Timestamp:  time.Now().UnixNano(),
			FsId:       &runtime.FilesystemIdentifier{Mountpoint: mountpoint},
			UsedBytes:  &runtime.UInt64Value{Value: used},
			InodesUsed: &runtime.UInt64Value{Value: inodes},
		}},
	}, nil
}
