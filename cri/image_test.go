package cri

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/test/testregistry"
)

func TestImageUser(t *testing.T) {
	for _, tc := range []struct {
		user     string
		uid      int64 // -1: no uid
		username string
	}{
		{"", -1, ""},
		{"0", 0, ""},
		{"1002", 1002, ""},
		{"1003:1004", 1003, ""},
		{"www-data", -1, "www-data"},
		{"www-data:1004", -1, "www-data"},
		{":1004", -1, ""},
	} {
		uid, name := imageUser(tc.user)
		gotUID := int64(-1)
		if uid != nil {
			gotUID = uid.Value
		}
		if gotUID != tc.uid || name != tc.username {
			t.Errorf("imageUser(%q) = %d, %q; want %d, %q", tc.user, gotUID, name, tc.uid, tc.username)
		}
	}
}

func TestImageRPCs(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	layer := testregistry.Tar(testregistry.File{Name: "hello", Body: []byte("hi")})
	built := reg.Push(t, "cri/app", "1", &testregistry.Image{Config: ocispec.ImageConfig{User: "www-data:1004"}, Layers: [][]byte{layer}})
	reg.PushBuilt(t, "cri/app", "2", built)

	svc, err := image.New(context.Background(), image.Config{
		Root:   filepath.Join(t.TempDir(), "images"),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	s := &Server{images: svc, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	spec := func(ref string) *runtime.ImageSpec { return &runtime.ImageSpec{Image: ref} }

	st, err := s.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: spec(reg.Ref("cri/app:1"))})
	if err != nil || st.GetImage() != nil {
		t.Fatalf("status before pull = %v, %v; want empty answer", st, err)
	}
	for _, tag := range []string{"1", "2"} {
		pr, err := s.PullImage(ctx, &runtime.PullImageRequest{Image: spec(reg.Ref("cri/app:" + tag))})
		if err != nil || pr.ImageRef != built.ID() {
			t.Fatalf("PullImage = %v, %v", pr, err)
		}
	}
	if _, err := s.PullImage(ctx, &runtime.PullImageRequest{Image: spec("Bad Ref")}); err == nil {
		t.Error("PullImage of a malformed ref succeeded")
	}

	st, err = s.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: spec(reg.Ref("cri/app:2")), Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	img := st.GetImage()
	if img.Id != built.ID() || img.Spec.Image != built.ID() || img.Username != "www-data" || img.Uid != nil ||
		!slices.Equal(img.RepoTags, []string{reg.Ref("cri/app:1"), reg.Ref("cri/app:2")}) || len(img.RepoDigests) != 1 || img.Size == 0 {
		t.Errorf("ImageStatus = %+v", img)
	}
	var info struct {
		ChainID   string        `json:"chainID"`
		ImageSpec ocispec.Image `json:"imageSpec"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.ChainID == "" || info.ImageSpec.Config.User != "www-data:1004" {
		t.Errorf("verbose info = %q (%v)", st.Info["info"], err)
	}

	list, err := s.ListImages(ctx, &runtime.ListImagesRequest{})
	if err != nil || len(list.Images) != 1 {
		t.Fatalf("ListImages = %v, %v", list, err)
	}
	for ref, want := range map[string]int{reg.Ref("cri/app:1"): 1, built.ID(): 1, reg.Ref("cri/app:404"): 0} {
		list, err := s.ListImages(ctx, &runtime.ListImagesRequest{Filter: &runtime.ImageFilter{Image: spec(ref)}})
		if err != nil || len(list.Images) != want {
			t.Errorf("ListImages(filter %s) = %v, %v; want %d", ref, list, err, want)
		}
	}

	fs, err := s.ImageFsInfo(ctx, &runtime.ImageFsInfoRequest{})
	if err != nil || len(fs.ImageFilesystems) != 1 || fs.ImageFilesystems[0].UsedBytes.Value == 0 || fs.ImageFilesystems[0].FsId.Mountpoint == "" {
		t.Errorf("ImageFsInfo = %v, %v", fs, err)
	}

	// By ID every tag goes; removing again still succeeds.
	for range 2 {
		if _, err := s.RemoveImage(ctx, &runtime.RemoveImageRequest{Image: spec(built.ID())}); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: spec(reg.Ref("cri/app:2"))}); err != nil || st.Image != nil {
		t.Errorf("status after remove = %v, %v", st, err)
	}
}
