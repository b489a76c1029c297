package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Image volumes (KEP-4639): a CRI mount may name an image instead of a
// host path. Krill mounts a read-only snapshot of that image under the
// bundle and turns the mount into an ordinary bind of that directory
// (or of a sub-path inside it), which package spec then handles like any
// other. The snapshots are keyed "<container id>-iv<n>" and go with the
// container.

func imageVolumeKey(id string, n int) string { return id + "-iv" + strconv.Itoa(n) }

func (m *Manager) imageVolumeDir(id string, n int) string {
	return filepath.Join(m.bundle(id), "imagevolumes", strconv.Itoa(n))
}

// mountImageVolumes rewrites the image mounts of cfg in place into binds of
// mounted snapshots.
func (m *Manager) mountImageVolumes(ctx context.Context, id string, cfg *runtime.ContainerConfig) (err error) {
	n := 0
	for _, mnt := range cfg.GetMounts() {
		if mnt.GetImage().GetImage() == "" {
			continue
		}
		if !mnt.Readonly {
			return fmt.Errorf("image volume %s at %s must be read-only: %w", mnt.Image.Image, mnt.ContainerPath, errdefs.ErrInvalidArgument)
		}
		img, err := m.cfg.Images.Get(ctx, mnt.Image.Image)
		if err != nil {
			return fmt.Errorf("image volume %s: %w", mnt.Image.Image, err)
		}
		dir := m.imageVolumeDir(id, n)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		mounts, err := m.cfg.Images.PrepareRootfs(ctx, imageVolumeKey(id, n), img.ID, true)
		if err != nil {
			return fmt.Errorf("image volume %s: %w", mnt.Image.Image, err)
		}
		if err := mount.All(mounts, dir); err != nil {
			m.cfg.Images.RemoveRootfs(ctx, imageVolumeKey(id, n))
			return fmt.Errorf("mount image volume %s: %w", mnt.Image.Image, err)
		}
		n++
		src := dir
		if sub := mnt.GetImageSubPath(); sub != "" {
			// The sub-path comes from a user: resolve it inside the image
			// so that a symlink in the image cannot point the bind outside.
			src, err = securejoin.SecureJoin(dir, sub)
			if err != nil {
				return err
			}
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("image volume %s has no sub-path %q: %w", mnt.Image.Image, sub, errdefs.ErrNotFound)
			}
		}
		mnt.HostPath = src
		mnt.Image.ImageRef = img.ID
	}
	return nil
}

// unmountImageVolumes unmounts and removes every image volume of a
// container. It reads the bundle rather than the record so that it also
// cleans up after a Create that crashed half-way.
func (m *Manager) unmountImageVolumes(ctx context.Context, id string) error {
	entries, err := os.ReadDir(filepath.Join(m.bundle(id), "imagevolumes"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var errs []error
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := mount.UnmountAll(m.imageVolumeDir(id, n), 0); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		if err := m.cfg.Images.RemoveRootfs(ctx, imageVolumeKey(id, n)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
