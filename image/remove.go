package image

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
)

// Remove deletes what ref names, and only that:
//   - an image ID (or unique prefix): the whole image, every tag and digest;
//   - a tag: that tag; if it was the image's last tag, the image goes too;
//   - name@digest: that digest reference; if nothing else names the image,
//     the image goes too.
//
// Blobs and layers no record needs any more are garbage collected before
// Remove returns. Containers' rootfs snapshots keep their layers alive on
// their own. Removing something that does not exist is not an error.
func (s *Service) Remove(ctx context.Context, ref string) error {
	ctx = s.ns(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()

	byID, err := s.records(ctx)
	if err != nil {
		return err
	}
	id, err := s.resolveID(ctx, ref, byID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	recs := byID[id]

	var drop []images.Image
	if named, nerr := normalize(ref); nerr == nil && hasRecord(recs, named.String()) {
		drop = append(drop, recordNamed(recs, named.String()))
		rest := without(recs, named.String())
		tagsLeft := 0
		for _, r := range rest {
			if !isDigestRef(r.Name) {
				tagsLeft++
			}
		}
		// The last tag takes the image's digest records with it (as
		// Docker does); a digest reference alone goes alone.
		if (!isDigestRef(named.String()) && tagsLeft == 0) || len(rest) == 0 {
			drop = recs
		}
	} else {
		drop = recs // by ID
	}

	for _, r := range drop {
		if err := s.images.Delete(ctx, r.Name); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove image record %s: %w", r.Name, err)
		}
	}
	if len(drop) == len(recs) {
		s.forgetMeta(id)
		s.log.Info("removed image", "image", id)
	} else {
		s.log.Info("untagged image", "image", ref, "id", id)
	}
	defer s.usage.changed()
	return s.gc(ctx)
}

func hasRecord(recs []images.Image, name string) bool {
	for _, r := range recs {
		if r.Name == name {
			return true
		}
	}
	return false
}

func recordNamed(recs []images.Image, name string) images.Image {
	for _, r := range recs {
		if r.Name == name {
			return r
		}
	}
	return images.Image{}
}

func without(recs []images.Image, name string) []images.Image {
	var out []images.Image
	for _, r := range recs {
		if r.Name != name {
			out = append(out, r)
		}
	}
	return out
}
