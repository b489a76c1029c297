package image

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "busybox", want: "docker.io/library/busybox:latest"},
		{in: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{in: "library/busybox", want: "docker.io/library/busybox:latest"},
		{in: "docker.io/busybox", want: "docker.io/library/busybox:latest"},
		{in: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{in: "127.0.0.1:5000/a/b", want: "127.0.0.1:5000/a/b:latest"},
		{in: "busybox@sha256:" + strings.Repeat("a", 64), want: "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64)},
		// tag + digest: the digest is what is pulled and recorded
		{in: "busybox:1@sha256:" + strings.Repeat("b", 64), want: "docker.io/library/busybox@sha256:" + strings.Repeat("b", 64)},
		{in: "", bad: true},
		{in: "Busybox", bad: true},
		{in: "a b", bad: true},
		{in: "busybox:", bad: true},
		{in: "busybox@sha256:123", bad: true},
		{in: strings.Repeat("a", 64), bad: true}, // looks like an ID, not a name
	} {
		got, err := normalize(tc.in)
		if tc.bad {
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("normalize(%q) = %v, %v; want InvalidArgument", tc.in, got, err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("normalize(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestPullGetListAndRootfs(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	built := reg.Push(t, "team/app", "1.0", smallImage("hello"))
	s := newService(t, nil)
	ctx := context.Background()

	ref := reg.Ref("team/app:1.0")
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if img.ID != built.ID() {
		t.Errorf("ID = %s, want config digest %s", img.ID, built.ID())
	}
	wantDigest := reg.Host + "/team/app@" + built.Manifest.Desc.Digest.String()
	if !slices.Equal(img.RepoTags, []string{ref}) || !slices.Equal(img.RepoDigests, []string{wantDigest}) {
		t.Errorf("RepoTags %v RepoDigests %v; want [%s] [%s]", img.RepoTags, img.RepoDigests, ref, wantDigest)
	}
	if img.Config.User != "1002" || img.Config.WorkingDir != "/srv" || !slices.Equal(img.Config.Entrypoint, []string{"/bin/app"}) ||
		!slices.Contains(img.Config.Env, "MARKER=hello") {
		t.Errorf("Config = %+v", img.Config)
	}
	var wantSize uint64 = uint64(built.Config.Desc.Size)
	for _, l := range built.Layers {
		wantSize += uint64(l.Desc.Size)
	}
	if img.Size != wantSize || img.Pinned {
		t.Errorf("Size %d Pinned %v; want %d false", img.Size, img.Pinned, wantSize)
	}

	for _, q := range []string{img.ID, img.ID[:7+12], strings.TrimPrefix(img.ID, "sha256:")[:10], ref, wantDigest} {
		got, err := s.Get(ctx, q)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", q, got, err)
		}
	}
	for _, q := range []string{reg.Ref("team/app:2.0"), "sha256:" + strings.Repeat("0", 64), "busybox"} {
		if _, err := s.Get(ctx, q); !errdefs.IsNotFound(err) {
			t.Errorf("Get(%q) err = %v; want NotFound", q, err)
		}
	}
	if _, err := s.Get(ctx, "Not A Ref"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Get(malformed) err = %v; want InvalidArgument", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != img.ID {
		t.Fatalf("List = %v, %v", list, err)
	}

	// Writable rootfs: both layers visible, writes land in the upper dir.
	mounts, err := s.PrepareRootfs(ctx, "ctr1", img.ID, false)
	if err != nil {
		t.Fatalf("PrepareRootfs: %v", err)
	}
	root := mountRootfs(t, mounts)
	for file, want := range map[string]string{"etc/marker": "hello", "srv/data": "layer two hello"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "new-file"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	bytes, inodes, err := s.RootfsUsage(ctx, "ctr1")
	if err != nil || bytes < 64<<10 || inodes < 1 {
		t.Errorf("RootfsUsage = %d bytes %d inodes, %v; want >= 64KiB, >= 1", bytes, inodes, err)
	}
	// Preparing again returns the same snapshot's mounts.
	again, err := s.PrepareRootfs(ctx, "ctr1", img.ID, false)
	if err != nil || len(again) != len(mounts) {
		t.Errorf("PrepareRootfs again = %v, %v", again, err)
	}

	// Read-only view.
	ro, err := s.PrepareRootfs(ctx, "ctr-ro", img.ID, true)
	if err != nil {
		t.Fatalf("PrepareRootfs ro: %v", err)
	}
	roRoot := mountRootfs(t, ro)
	if err := os.WriteFile(filepath.Join(roRoot, "x"), nil, 0o644); err == nil {
		t.Error("write into read-only rootfs succeeded")
	}
	if _, err := s.PrepareRootfs(ctx, "ctr2", "sha256:"+strings.Repeat("1", 64), false); !errdefs.IsNotFound(err) {
		t.Errorf("PrepareRootfs of unknown image err = %v; want NotFound", err)
	}

	mp, used, inodesUsed, err := s.FsInfo(ctx)
	if err != nil || mp != filepath.Join(s.cfg.Root, "snapshots") || used < 64<<10 || inodesUsed < 10 {
		t.Errorf("FsInfo = %s %d %d %v", mp, used, inodesUsed, err)
	}
}

func TestIndexResolvesToLinuxAmd64(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	amd := smallImage("amd64").Build()
	armImg := smallImage("arm64")
	armImg.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	arm := armImg.Build()
	idx := reg.PushIndex(t, "multi", "v1", arm, amd)
	s := newService(t, nil)
	img, err := s.Pull(context.Background(), reg.Ref("multi:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != amd.ID() {
		t.Errorf("ID = %s; want the amd64 config %s (arm64 is %s)", img.ID, amd.ID(), arm.ID())
	}
	if want := reg.Host + "/multi@" + idx.String(); !slices.Equal(img.RepoDigests, []string{want}) {
		t.Errorf("RepoDigests = %v; want [%s]", img.RepoDigests, want)
	}
	// The arm64 layers were never fetched.
	if _, err := s.content.Info(s.ns(context.Background()), arm.Layers[0].Desc.Digest); !errdefs.IsNotFound(err) {
		t.Errorf("arm64 layer in content store: %v", err)
	}
}

func TestPullByDigestAndUnknownRefs(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	built := reg.Push(t, "bydigest", "", smallImage("d"))
	s := newService(t, nil)
	ctx := context.Background()
	ref := reg.Ref("bydigest@" + built.Manifest.Desc.Digest.String())
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoTags) != 0 || !slices.Equal(img.RepoDigests, []string{ref}) || img.ID != built.ID() {
		t.Errorf("image = %+v", img)
	}
	// tag + digest pulls the digest
	img2, err := s.Pull(ctx, reg.Ref("bydigest:whatever@"+built.Manifest.Desc.Digest.String()), nil)
	if err != nil || img2.ID != img.ID {
		t.Errorf("tag+digest pull = %v, %v", img2, err)
	}

	for _, ref := range []string{reg.Ref("bydigest:nope"), reg.Ref("no/such/repo:1"),
		reg.Ref("bydigest@sha256:" + strings.Repeat("e", 64))} {
		if _, err := s.Pull(ctx, ref, nil); !errdefs.IsNotFound(err) {
			t.Errorf("Pull(%s) err = %v; want NotFound", ref, err)
		}
	}
	for _, ref := range []string{"", "lower/UPPER", "a b", "x@sha256:12", "x:"} {
		if _, err := s.Pull(ctx, ref, nil); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Pull(%q) err = %v; want InvalidArgument", ref, err)
		}
	}
}

func TestConcurrentPullsFetchOnce(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	img := smallImage("c")
	img.Layers = append(img.Layers, randomLayer("big", 4<<20))
	built := reg.Push(t, "conc", "1", img)
	proxy := testregistry.NewProxy(t, reg)
	s := newService(t, nil)

	const n = 6
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Pull(context.Background(), proxy.Ref("conc:1"), nil)
			errs[i] = err
			if err == nil {
				ids[i] = got.ID
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != built.ID() {
			t.Errorf("pull %d: %s, %v", i, ids[i], errs[i])
		}
	}
	for _, l := range built.Layers {
		if c := proxy.Count("GET", "/blobs/"+l.Desc.Digest.String()); c != 1 {
			t.Errorf("layer %s fetched %d times; want 1", l.Desc.Digest, c)
		}
	}
	if c := proxy.Count("HEAD", "/manifests/1") + proxy.Count("GET", "/manifests/1"); c != 1 {
		t.Errorf("manifest resolved %d times; want 1", c)
	}
	// A later pull of an image already here only re-resolves the tag.
	if _, err := s.Pull(context.Background(), proxy.Ref("conc:1"), nil); err != nil {
		t.Fatal(err)
	}
	if c := proxy.Count("GET", "/blobs/"); c != len(built.Layers)+1 {
		t.Errorf("re-pull fetched blobs again: %d blob GETs in all", c)
	}
}

func TestMultipleTagsAndRemove(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	built := smallImage("tags").Build()
	for _, tag := range []string{"1", "2", "3"} {
		reg.PushBuilt(t, "tags", tag, built)
	}
	other := reg.Push(t, "other", "1", smallImage("other"))
	s := newService(t, nil)
	ctx := context.Background()
	for _, tag := range []string{"1", "2", "3"} {
		img, err := s.Pull(ctx, reg.Ref("tags:"+tag), nil)
		if err != nil || img.ID != built.ID() {
			t.Fatalf("pull tags:%s = %v, %v", tag, img, err)
		}
	}
	if _, err := s.Pull(ctx, reg.Ref("other:1"), nil); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, built.ID())
	if err != nil {
		t.Fatal(err)
	}
	wantTags := []string{reg.Ref("tags:1"), reg.Ref("tags:2"), reg.Ref("tags:3")}
	if !slices.Equal(img.RepoTags, wantTags) || len(img.RepoDigests) != 1 {
		t.Fatalf("RepoTags %v RepoDigests %v; want %v and one digest", img.RepoTags, img.RepoDigests, wantTags)
	}
	blobsDir := filepath.Join(s.cfg.Root, "content", "blobs", "sha256")
	blobsBefore := countFiles(t, blobsDir)

	// Untag one: the image stays with the other two.
	if err := s.Remove(ctx, reg.Ref("tags:2")); err != nil {
		t.Fatal(err)
	}
	img, err = s.Get(ctx, built.ID())
	if err != nil || !slices.Equal(img.RepoTags, []string{reg.Ref("tags:1"), reg.Ref("tags:3")}) {
		t.Fatalf("after untag: %v, %v", img, err)
	}
	if _, err := s.Get(ctx, reg.Ref("tags:2")); !errdefs.IsNotFound(err) {
		t.Errorf("removed tag still resolves: %v", err)
	}
	if countFiles(t, blobsDir) != blobsBefore {
		t.Error("untagging freed content still in use")
	}
	// Removing the digest reference removes only that.
	if err := s.Remove(ctx, img.RepoDigests[0]); err != nil {
		t.Fatal(err)
	}
	img, err = s.Get(ctx, built.ID())
	if err != nil || len(img.RepoDigests) != 0 || len(img.RepoTags) != 2 {
		t.Fatalf("after digest removal: %v, %v", img, err)
	}
	// Idempotent.
	for _, ref := range []string{reg.Ref("tags:2"), "sha256:" + strings.Repeat("9", 64), "never-pulled"} {
		if err := s.Remove(ctx, ref); err != nil {
			t.Errorf("Remove(%s) = %v; want nil", ref, err)
		}
	}
	if err := s.Remove(ctx, "Bad Ref"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Remove(malformed) = %v; want InvalidArgument", err)
	}
	// Last tags gone: the image and its blobs go, the other image stays.
	if err := s.Remove(ctx, reg.Ref("tags:1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, reg.Ref("tags:3")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, built.ID()); !errdefs.IsNotFound(err) {
		t.Fatalf("image still there: %v", err)
	}
	want := 2 + len(other.Layers) // other's manifest, config, layers
	if got := countFiles(t, blobsDir); got != want {
		t.Errorf("%d blobs left; want %d (only the other image's)", got, want)
	}
	if _, err := s.Get(ctx, other.ID()); err != nil {
		t.Errorf("other image: %v", err)
	}
	// Remove by ID prefix removes everything of that image.
	if err := s.Remove(ctx, other.ID()[:20]); err != nil {
		t.Fatal(err)
	}
	if got := countFiles(t, blobsDir); got != 0 {
		t.Errorf("%d blobs left after removing all images", got)
	}
	if n := countEntries(t, filepath.Join(s.cfg.Root, "snapshots", "snapshots")); n != 0 {
		t.Errorf("%d snapshots left after removing all images", n)
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Errorf("List = %v", list)
	}
}

func TestRootfsOutlivesImage(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	reg.Push(t, "keep", "1", smallImage("kept"))
	s := newService(t, nil)
	ctx := context.Background()
	img, err := s.Pull(ctx, reg.Ref("keep:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := s.PrepareRootfs(ctx, "c1", img.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, img.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("image not removed: %v", err)
	}
	// The layers under the rootfs survived the GC the removal ran.
	root := mountRootfs(t, mounts)
	if b, err := os.ReadFile(filepath.Join(root, "srv", "data")); err != nil || string(b) != "layer two kept" {
		t.Fatalf("rootfs after image removal: %q, %v", b, err)
	}
	if err := mount.UnmountAll(root, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRootfs(ctx, "c1"); err != nil {
		t.Errorf("second RemoveRootfs = %v", err)
	}
	// The directories go with the background collection.
	gone := testregistry.WaitFor(10*time.Second, func() bool {
		return countEntries(t, filepath.Join(s.cfg.Root, "snapshots", "snapshots")) == 0
	})
	if !gone {
		t.Errorf("%d snapshot dirs left after the last user went", countEntries(t, filepath.Join(s.cfg.Root, "snapshots", "snapshots")))
	}
	if _, _, err := s.RootfsUsage(ctx, "c1"); !errdefs.IsNotFound(err) {
		t.Errorf("RootfsUsage of removed rootfs: %v", err)
	}
}

func TestCorruptBlobsLeaveNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(data []byte) []byte
		class   func(error) bool
	}{
		{"digest mismatch", func(d []byte) []byte {
			c := slices.Clone(d)
			c[len(c)/2] ^= 0xff
			return c
		}, errdefs.IsFailedPrecondition},
		{"truncated", func(d []byte) []byte { return d[:len(d)/2] }, errdefs.IsUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := testregistry.Start(t, testregistry.Options{})
			img := smallImage("bad")
			img.Layers = append(img.Layers, randomLayer("blob", 1<<20))
			built := reg.Push(t, "bad", "1", img)
			last := built.Layers[len(built.Layers)-1]
			reg.ReplaceBlob(t, last.Desc.Digest, tc.corrupt(last.Data))

			s := newService(t, nil)
			ctx := context.Background()
			_, err := s.Pull(ctx, reg.Ref("bad:1"), nil)
			if err == nil {
				t.Fatal("pull of corrupt image succeeded")
			}
			t.Logf("error: %v", err)
			if !tc.class(err) {
				t.Errorf("error class of %v is wrong", err)
			}
			if _, err := s.Get(ctx, built.ID()); !errdefs.IsNotFound(err) {
				t.Errorf("image record exists after failed pull: %v", err)
			}
			if _, err := s.Get(ctx, reg.Ref("bad:1")); !errdefs.IsNotFound(err) {
				t.Errorf("tag record exists after failed pull: %v", err)
			}
			root := s.cfg.Root
			if n := countFiles(t, filepath.Join(root, "content", "ingest")); n != 0 {
				t.Errorf("%d files left in ingest", n)
			}
			if n := countFiles(t, filepath.Join(root, "content", "blobs")); n != 0 {
				t.Errorf("%d blobs left", n)
			}
			if n := countEntries(t, filepath.Join(root, "snapshots", "snapshots")); n != 0 {
				t.Errorf("%d snapshots left", n)
			}
			leases, _ := s.leases.List(s.ns(ctx))
			if len(leases) != 0 {
				t.Errorf("%d leases left", len(leases))
			}
			// After the registry is repaired the same store pulls fine.
			reg.ReplaceBlob(t, last.Desc.Digest, last.Data)
			if img, err := s.Pull(ctx, reg.Ref("bad:1"), nil); err != nil || img.ID != built.ID() {
				t.Errorf("pull after repair = %v, %v", img, err)
			}
		})
	}
}

func TestStalledRegistryTimesOut(t *testing.T) {
	t.Run("never answers", func(t *testing.T) {
		host := testregistry.Silent(t)
		s := newService(t, func(c *Config) { c.ProgressTimeout = 500 * time.Millisecond })
		_, err := s.Pull(context.Background(), host+"/hang:1", nil)
		if !errdefs.IsDeadlineExceeded(err) {
			t.Fatalf("err = %v; want DeadlineExceeded", err)
		}
	})
	t.Run("stops mid-blob", func(t *testing.T) {
		reg := testregistry.Start(t, testregistry.Options{})
		img := smallImage("stall")
		img.Layers = append(img.Layers, randomLayer("big", 2<<20))
		reg.Push(t, "stall", "1", img)
		proxy := testregistry.NewProxy(t, reg)
		proxy.StallBlobsAfter.Store(64 << 10)
		s := newService(t, func(c *Config) { c.ProgressTimeout = 500 * time.Millisecond })
		_, err := s.Pull(context.Background(), proxy.Ref("stall:1"), nil)
		if !errdefs.IsDeadlineExceeded(err) {
			t.Fatalf("err = %v; want DeadlineExceeded", err)
		}
		if n := countFiles(t, filepath.Join(s.cfg.Root, "content", "ingest")); n != 0 {
			t.Errorf("%d files left in ingest", n)
		}
	})
}
