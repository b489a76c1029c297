package image

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// newService opens a fresh image store in a temp dir.
func newService(t testing.TB, mod func(*Config)) *Service {
	t.Helper()
	cfg := Config{Root: filepath.Join(t.TempDir(), "images")}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// smallImage is a two-layer image with a few known files.
func smallImage(marker string) *testregistry.Image {
	return &testregistry.Image{
		Config: ocispec.ImageConfig{
			User:       "1002",
			Env:        []string{"PATH=/bin", "MARKER=" + marker},
			Entrypoint: []string{"/bin/app"},
			Cmd:        []string{"--serve"},
			WorkingDir: "/srv",
		},
		Layers: [][]byte{
			testregistry.Tar(
				testregistry.File{Name: "bin/", Type: '5'},
				testregistry.File{Name: "bin/app", Body: []byte("#!/bin/sh\necho " + marker + "\n"), Mode: 0o755},
				testregistry.File{Name: "etc/", Type: '5'},
				testregistry.File{Name: "etc/marker", Body: []byte(marker)},
			),
			testregistry.Tar(
				testregistry.File{Name: "srv/", Type: '5'},
				testregistry.File{Name: "srv/data", Body: []byte("layer two " + marker)},
			),
		},
	}
}

// randomLayer is a layer of one incompressible file of n bytes.
func randomLayer(name string, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return testregistry.Tar(testregistry.File{Name: name, Body: b})
}

// countFiles counts regular files under dir (0 if it does not exist).
func countFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// countEntries counts the direct entries of dir (0 if it does not exist).
func countEntries(t testing.TB, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// mountRootfs mounts mounts on a temp dir and unmounts it when the test ends.
func mountRootfs(t testing.TB, mounts []mount.Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := mount.All(mounts, target); err != nil {
		t.Fatalf("mount rootfs: %v", err)
	}
	t.Cleanup(func() {
		if err := mount.UnmountAll(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return target
}
