package image

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
)

// rootfsKey is the snapshot key of a container's (or pod's) rootfs. The
// prefix keeps them apart from the layer snapshots, named by chain ID.
func rootfsKey(key string) string { return "rootfs/" + key }

// PrepareRootfs creates the root filesystem snapshot of container key on
// top of the image's layers and returns the overlay mounts for it:
// writable, or a read-only view. The snapshot is a GC root, so it and
// the layers under it outlive the image being removed. Calling it again
// for an existing key returns the existing snapshot's mounts.
func (s *Service) PrepareRootfs(ctx context.Context, key, imageID string, readonly bool) ([]mount.Mount, error) {
	if key == "" {
		return nil, fmt.Errorf("rootfs key is empty: %w", errdefs.ErrInvalidArgument)
	}
	ctx = s.ns(ctx)
	// Held so a concurrent Remove's garbage collection cannot take the
	// layers between finding the image and pinning them with the snapshot.
	s.mu.Lock()
	defer s.mu.Unlock()
	img, err := s.Get(ctx, imageID)
	if err != nil {
		return nil, fmt.Errorf("rootfs %s: %w", key, err)
	}
	labels := snapshots.WithLabels(map[string]string{
		labelGCRoot:  time.Now().UTC().Format(time.RFC3339),
		labelImageID: img.ID,
	})
	var mounts []mount.Mount
	if readonly {
		mounts, err = s.snapshotter.View(ctx, rootfsKey(key), img.ChainID, labels)
	} else {
		mounts, err = s.snapshotter.Prepare(ctx, rootfsKey(key), img.ChainID, labels)
	}
	if errdefs.IsAlreadyExists(err) {
		mounts, err = s.snapshotter.Mounts(ctx, rootfsKey(key))
	}
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs %s from image %s: %w", key, img.ID, err)
	}
	return mounts, nil
}

// RemoveRootfs deletes container key's rootfs snapshot. Its writable
// layer, and any image layers only it still held, are freed on disk by
// the background garbage collection shortly after. Idempotent.
func (s *Service) RemoveRootfs(ctx context.Context, key string) error {
	ctx = s.ns(ctx)
	err := s.snapshotter.Remove(ctx, rootfsKey(key))
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove rootfs %s: %w", key, err)
	}
	// The metadata snapshotter only forgets the snapshot; the directories
	// go when GC runs, which must not hold up RemoveContainer or
	// StopPodSandbox (see gcDelay).
	s.scheduleGC()
	return nil
}

// RootfsUsage reports the bytes and inodes of container key's writable layer.
func (s *Service) RootfsUsage(ctx context.Context, key string) (bytes, inodes uint64, err error) {
	ctx = s.ns(ctx)
	u, err := s.snapshotter.Usage(ctx, rootfsKey(key))
	if err != nil {
		return 0, 0, fmt.Errorf("rootfs %s usage: %w", key, err)
	}
	return uint64(u.Size), uint64(u.Inodes), nil
}
