package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// EnsurePauseImage makes Config.PauseImage available and pinned: already
// present, else pulled, else built here from Config.PauseBinary under the
// same name, so pods start on a machine that reaches no registry.
func (s *Service) EnsurePauseImage(ctx context.Context) (*Image, error) {
	named, err := normalize(s.cfg.PauseImage)
	if err != nil {
		return nil, fmt.Errorf("pause image: %w", err)
	}
	if img, err := s.Get(ctx, named.String()); err == nil {
		return s.pin(ctx, img)
	}
	img, pullErr := s.Pull(ctx, named.String(), nil)
	if pullErr == nil {
		return s.pin(ctx, img)
	}
	if s.cfg.PauseBinary == "" {
		return nil, fmt.Errorf("pause image: pull failed and no built-in pause binary configured: %w", pullErr)
	}
	s.log.Warn("pause image pull failed, importing the built-in one", "image", named.String(), "err", pullErr)
	img, err = s.importPause(ctx, named)
	if err != nil {
		return nil, fmt.Errorf("pause image: pull failed (%v) and built-in import failed: %w", pullErr, err)
	}
	return img, nil
}

// pin marks every record of img as the pinned pause image.
func (s *Service) pin(ctx context.Context, img *Image) (*Image, error) {
	if img.Pinned {
		return img, nil
	}
	ctx = s.ns(ctx)
	s.mu.Lock()
	for _, name := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
		_, err := s.images.Update(ctx, images.Image{Name: name, Labels: map[string]string{labelPinned: "pinned"}}, "labels."+labelPinned)
		if err != nil && !errdefs.IsNotFound(err) {
			s.mu.Unlock()
			return nil, fmt.Errorf("pin image %s: %w", name, err)
		}
	}
	s.mu.Unlock()
	return s.Get(ctx, img.ID)
}

// importPause stores a one-layer image holding only /pause and unpacks it
// like a pulled image. Every byte is deterministic, so the image ID only
// changes when the binary does.
func (s *Service) importPause(ctx context.Context, named reference.Named) (_ *Image, retErr error) {
	ctx = s.ns(ctx)
	bin, err := os.ReadFile(s.cfg.PauseBinary)
	if err != nil {
		return nil, fmt.Errorf("read pause binary: %w", err)
	}
	layer, err := pauseLayer(bin)
	if err != nil {
		return nil, err
	}
	layerDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH},
		Config:   ocispec.ImageConfig{Entrypoint: []string{"/pause"}, User: "65535:65535"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}}, // uncompressed: diff ID = blob digest
	}
	cfgBytes, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfgBytes), Size: int64(len(cfgBytes))}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	}
	mBytes, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mBytes), Size: int64(len(mBytes))}

	ctx, done, err := s.withLease(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		done(context.WithoutCancel(ctx))
		if retErr != nil {
			s.gc(context.WithoutCancel(ctx))
		}
	}()
	blobs := []struct {
		desc   ocispec.Descriptor
		data   []byte
		labels map[string]string
	}{
		{layerDesc, layer, nil},
		{cfgDesc, cfgBytes, nil},
		// GC follows the manifest to its config and layer through these.
		{mDesc, mBytes, map[string]string{
			"containerd.io/gc.ref.content.config": cfgDesc.Digest.String(),
			"containerd.io/gc.ref.content.l.0":    layerDesc.Digest.String(),
		}},
	}
	for _, b := range blobs {
		err := content.WriteBlob(ctx, s.content, "krill-pause-"+b.desc.Digest.String(), bytes.NewReader(b.data), b.desc, content.WithLabels(b.labels))
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("store built-in pause image: %w", err)
		}
	}
	// Nothing to fetch: the unpacker reads everything from the store.
	if err := s.fetchAndUnpack(ctx, mDesc, images.HandlerFunc(func(context.Context, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		return nil, nil
	})); err != nil {
		return nil, fmt.Errorf("unpack built-in pause image: %w", err)
	}
	id := cfgDesc.Digest.String()
	s.mu.Lock()
	err = s.putRecord(ctx, named.String(), mDesc, id, true)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("imported built-in pause image", "image", named.String(), "id", id)
	return s.Get(ctx, id)
}

// pauseLayer is an uncompressed tar with the binary as /pause.
func pauseLayer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: "pause", Mode: 0o755, Size: int64(len(bin)),
		ModTime: epoch, Format: tar.FormatUSTAR,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
