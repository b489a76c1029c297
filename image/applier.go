package image

import (
	"context"
	"time"

	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/krill-runtime/krill/metrics"
)

// timedApplier measures each layer unpack: the unpacker calls Apply once
// per layer, so this is the one place that sees unpack time apart from
// download time.
type timedApplier struct{ diff.Applier }

func (a timedApplier) Apply(ctx context.Context, desc ocispec.Descriptor, mounts []mount.Mount, opts ...diff.ApplyOpt) (ocispec.Descriptor, error) {
	start := time.Now()
	d, err := a.Applier.Apply(ctx, desc, mounts, opts...)
	if err == nil {
		metrics.ObserveUnpack(time.Since(start))
	}
	return d, err
}
