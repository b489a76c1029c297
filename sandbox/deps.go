package sandbox

import (
	"context"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/network"
)

// Network is what a pod needs from package network (*network.Manager):
// its netns and its CNI attachment. An interface so that the pod's story
// (which step runs when, what a failure undoes) is unit-tested with a fake.
type Network interface {
	CreateNetNS(podID string) (string, error)
	RemoveNetNS(path string) error
	Setup(ctx context.Context, p network.PodNetwork) (*network.Result, error)
	Teardown(ctx context.Context, p network.PodNetwork) error
	Attachments(podID string) ([]network.Attachment, error) // verbose status
}

// Images is what a pod needs from package image (*image.Service): the
// pause image and its rootfs snapshot.
type Images interface {
	EnsurePauseImage(ctx context.Context) (*image.Image, error)
	Get(ctx context.Context, ref string) (*image.Image, error)
	PrepareRootfs(ctx context.Context, key, imageID string, readonly bool) ([]mount.Mount, error)
	RemoveRootfs(ctx context.Context, key string) error
}

var (
	_ Network = (*network.Manager)(nil)
	_ Images  = (*image.Service)(nil)
)
