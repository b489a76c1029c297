package image

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/krill-runtime/krill/test/testregistry"
)

// A registry that keeps sending a few bytes at a time never trips the
// progress timeout; the total limit still ends the pull, as
// DeadlineExceeded, and leaves nothing behind.
func TestTricklingRegistryCutOffByPullTimeout(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	img := smallImage("trickle")
	img.Layers = append(img.Layers, randomLayer("big", 1<<20))
	reg.Push(t, "trickle", "1", img)
	proxy := testregistry.NewProxy(t, reg)
	proxy.TrickleBlobs.Store(int64(5 * time.Millisecond))
	s := newService(t, func(c *Config) {
		c.ProgressTimeout = time.Second
		c.PullTimeout = 3 * time.Second
	})
	_, err := s.Pull(context.Background(), proxy.Ref("trickle:1"), nil)
	if !errdefs.IsDeadlineExceeded(err) || !strings.Contains(err.Error(), "longer than its limit") {
		t.Fatalf("err = %v; want DeadlineExceeded naming the pull limit", err)
	}
	if n := countFiles(t, filepath.Join(s.cfg.Root, "content", "ingest")); n != 0 {
		t.Errorf("%d files left in ingest", n)
	}
}

// At most MaxConcurrentDownloads blobs of one pull download at once.
func TestMaxConcurrentDownloads(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	img := smallImage("many")
	for i := range 6 {
		img.Layers = append(img.Layers, randomLayer(fmt.Sprint("l", i), 2<<10))
	}
	reg.Push(t, "many", "1", img)
	proxy := testregistry.NewProxy(t, reg)
	// Slow enough that unlimited downloads would all overlap.
	proxy.TrickleBlobs.Store(int64(200 * time.Microsecond))
	s := newService(t, func(c *Config) { c.MaxConcurrentDownloads = 2 })
	if _, err := s.Pull(context.Background(), proxy.Ref("many:1"), nil); err != nil {
		t.Fatal(err)
	}
	if n := proxy.MaxBlobsInFlight(); n > 2 || n < 1 {
		t.Errorf("%d blob downloads at once; want at most 2", n)
	}
}

// Images named in PinnedImages are reported pinned (kubelet's image GC
// skips them); others are not; a malformed name stops the service.
func TestPinnedImages(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	reg.Push(t, "pin", "1", smallImage("pinned"))
	reg.Push(t, "free", "1", smallImage("free"))
	s := newService(t, func(c *Config) { c.PinnedImages = []string{reg.Ref("pin:1")} })
	ctx := context.Background()
	pinned, err := s.Pull(ctx, reg.Ref("pin:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	free, err := s.Pull(ctx, reg.Ref("free:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !pinned.Pinned || free.Pinned {
		t.Errorf("pinned=%v free=%v; want true, false", pinned.Pinned, free.Pinned)
	}
	list, _ := s.List(ctx)
	for _, img := range list {
		if img.Pinned != (img.ID == pinned.ID) {
			t.Errorf("List: %v pinned=%v", img.RepoTags, img.Pinned)
		}
	}
	_, err = New(ctx, Config{Root: t.TempDir(), PinnedImages: []string{"Not A Name"}})
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("New with a malformed pinned image: %v; want InvalidArgument", err)
	}
}
