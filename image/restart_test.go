package image

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// TestReopenKeepsImagesAndRootfsDropsHalfPulls: what is on disk survives a
// krilld restart, except what an unfinished pull left behind.
func TestReopenKeepsImagesAndRootfsDropsHalfPulls(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	built := reg.Push(t, "restart", "1", smallImage("restart"))
	root := filepath.Join(t.TempDir(), "images")
	ctx := context.Background()

	s, err := New(ctx, Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(ctx, reg.Ref("restart:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrepareRootfs(ctx, "survivor", img.ID, false); err != nil {
		t.Fatal(err)
	}
	// A pull that dies half way: a lease holding a partial ingest.
	lctx, _, err := s.withLease(s.ns(ctx))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1<<20)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(data), Size: int64(len(data))}
	w, err := content.OpenWriter(lctx, s.content, content.WithRef("half-pull"), content.WithDescriptor(desc))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:4096])
	w.Close()
	if n := countFiles(t, filepath.Join(root, "content", "ingest")); n == 0 {
		t.Fatal("no partial ingest on disk to test with")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := New(ctx, Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := countFiles(t, filepath.Join(root, "content", "ingest")); n != 0 {
		t.Errorf("%d ingest files of the dead pull survived the restart", n)
	}
	got, err := s2.Get(ctx, reg.Ref("restart:1"))
	if err != nil || got.ID != built.ID() {
		t.Fatalf("image after restart = %v, %v", got, err)
	}
	mounts, err := s2.PrepareRootfs(ctx, "survivor", img.ID, false)
	if err != nil || len(mounts) == 0 {
		t.Fatalf("rootfs after restart = %v, %v", mounts, err)
	}
	if _, _, err := s2.RootfsUsage(ctx, "survivor"); err != nil {
		t.Errorf("RootfsUsage after restart: %v", err)
	}
}
