package image

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageMeta is what Krill derives from an image's immutable content once
// and then keeps in memory.
type imageMeta struct {
	spec    ocispec.Image
	chainID string
	size    uint64
}

// normalize turns any user-supplied reference into the fully qualified form
// records are keyed by, the way Docker does: "busybox" becomes
// "docker.io/library/busybox:latest"; a reference with both tag and digest
// keeps only the digest (the digest is what gets pulled).
func normalize(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, fmt.Errorf("empty image reference: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return named, nil
}

// isDigestRef reports whether a record name is "name@sha256:..." rather than a tag.
func isDigestRef(name string) bool {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return false
	}
	_, ok := n.(reference.Digested)
	return ok
}

// idLike returns the hex part of ref if ref could be an image ID or a
// prefix of one ("sha256:abc...", "abc...").
func idLike(ref string) (string, bool) {
	hex := strings.TrimPrefix(ref, "sha256:")
	if hex == "" || len(hex) > 64 {
		return "", false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return hex, true
}

// records returns all image records grouped by image ID.
func (s *Service) records(ctx context.Context) (map[string][]images.Image, error) {
	all, err := s.images.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list image records: %w", err)
	}
	byID := map[string][]images.Image{}
	for _, r := range all {
		id := r.Labels[labelImageID]
		if id == "" {
			continue // not ours
		}
		byID[id] = append(byID[id], r)
	}
	return byID, nil
}

// resolveID finds the image ID ref names: a full ID, a name (tag or
// digest, short names normalised), or a unique ID prefix.
func (s *Service) resolveID(ctx context.Context, ref string, byID map[string][]images.Image) (string, error) {
	if hex, ok := idLike(ref); ok && len(hex) == 64 {
		if _, found := byID["sha256:"+hex]; found {
			return "sha256:" + hex, nil
		}
		return "", fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	named, nerr := normalize(ref)
	if nerr == nil {
		for id, recs := range byID {
			for _, r := range recs {
				if r.Name == named.String() {
					return id, nil
				}
			}
		}
	}
	if hex, ok := idLike(ref); ok {
		var match string
		for id := range byID {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hex) {
				if match != "" {
					return "", fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, errdefs.ErrNotFound)
				}
				match = id
			}
		}
		if match != "" {
			return match, nil
		}
	}
	if nerr != nil {
		return "", nerr
	}
	return "", fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

// Get returns the image ref names: ID, ID prefix, name[:tag], name@digest or
// a short name. Unknown images give errdefs.ErrNotFound.
func (s *Service) Get(ctx context.Context, ref string) (*Image, error) {
	ctx = s.ns(ctx)
	byID, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	id, err := s.resolveID(ctx, ref, byID)
	if err != nil {
		return nil, err
	}
	return s.build(ctx, id, byID[id])
}

// List returns every image, sorted by ID.
func (s *Service) List(ctx context.Context) ([]*Image, error) {
	ctx = s.ns(ctx)
	byID, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.build(ctx, id, byID[id])
		if err != nil {
			// One image whose content went missing must not hide the others.
			s.log.Warn("skip unreadable image", "image", id, "err", err)
			continue
		}
		out = append(out, img)
	}
	return out, nil
}

// build assembles an Image from its records.
func (s *Service) build(ctx context.Context, id string, recs []images.Image) (*Image, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("image %s: %w", id, errdefs.ErrNotFound)
	}
	m, err := s.metaFor(ctx, id, recs[0].Target)
	if err != nil {
		return nil, err
	}
	img := &Image{ID: id, Size: m.size, Config: m.spec.Config, Spec: m.spec, ChainID: m.chainID}
	for _, r := range recs {
		if isDigestRef(r.Name) {
			img.RepoDigests = append(img.RepoDigests, r.Name)
		} else {
			img.RepoTags = append(img.RepoTags, r.Name)
		}
		if r.Labels[labelPinned] != "" || s.pinned[r.Name] {
			img.Pinned = true
		}
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	return img, nil
}

// metaFor reads (once) the config and manifest an image ID stands for.
func (s *Service) metaFor(ctx context.Context, id string, target ocispec.Descriptor) (*imageMeta, error) {
	s.metaMu.Lock()
	m, ok := s.meta[id]
	s.metaMu.Unlock()
	if ok {
		return m, nil
	}
	manifest, err := images.Manifest(ctx, s.content, target, platforms.Default())
	if err != nil {
		return nil, fmt.Errorf("image %s: read manifest: %w", id, err)
	}
	raw, err := content.ReadBlob(ctx, s.content, manifest.Config)
	if err != nil {
		return nil, fmt.Errorf("image %s: read config: %w", id, err)
	}
	m = &imageMeta{}
	if err := json.Unmarshal(raw, &m.spec); err != nil {
		return nil, fmt.Errorf("image %s: decode config: %w", id, err)
	}
	m.chainID = identity.ChainID(m.spec.RootFS.DiffIDs).String()
	if len(m.spec.RootFS.DiffIDs) == 0 {
		m.chainID = ""
	}
	m.size = uint64(manifest.Config.Size)
	for _, l := range manifest.Layers {
		m.size += uint64(l.Size)
	}
	s.metaMu.Lock()
	s.meta[id] = m
	s.metaMu.Unlock()
	return m, nil
}

// forgetMeta drops cached metadata of images that no longer exist.
func (s *Service) forgetMeta(id string) {
	s.metaMu.Lock()
	delete(s.meta, id)
	s.metaMu.Unlock()
}

// configDigest returns the image ID of a pulled or imported top-level descriptor.
func (s *Service) configDigest(ctx context.Context, target ocispec.Descriptor) (digest.Digest, error) {
	cfg, err := images.Config(ctx, s.content, target, platforms.Default())
	if err != nil {
		return "", fmt.Errorf("find image config for %s: %w", platforms.DefaultString(), err)
	}
	return cfg.Digest, nil
}

// putRecord creates or re-points the record called name. Caller holds s.mu.
func (s *Service) putRecord(ctx context.Context, name string, target ocispec.Descriptor, id string, pinned bool) error {
	rec := images.Image{Name: name, Target: target, Labels: map[string]string{labelImageID: id}}
	if pinned {
		rec.Labels[labelPinned] = "pinned"
	}
	if old, err := s.images.Get(ctx, name); err == nil && old.Labels[labelPinned] != "" && old.Labels[labelImageID] == id {
		rec.Labels[labelPinned] = "pinned" // re-pulling the pause image keeps it pinned
	}
	if _, err := s.images.Create(ctx, rec); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("create image record %s: %w", name, err)
		}
		if _, err := s.images.Update(ctx, rec, "target", "labels"); err != nil {
			return fmt.Errorf("update image record %s: %w", name, err)
		}
	}
	return nil
}

// Count returns how many images the store holds.
func (s *Service) Count(ctx context.Context) (int, error) {
	byID, err := s.records(s.ns(ctx))
	return len(byID), err
}
