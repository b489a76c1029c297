package image

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/krill-runtime/krill/test/testregistry"
)

// buildPause compiles the real pause binary statically.
func buildPause(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pause")
	src, _ := filepath.Abs("../pause/pause.c")
	if b, err := exec.Command("gcc", "-static", "-Os", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc pause: %v\n%s", err, b)
	}
	return out
}

// closedPort is a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestPauseFallbackWithoutRegistry(t *testing.T) {
	bin := buildPause(t)
	pauseRef := closedPort(t) + "/pause:3.10"
	ctx := context.Background()

	var ids []string
	for range 2 {
		s := newService(t, func(c *Config) { c.PauseImage = pauseRef; c.PauseBinary = bin })
		img, err := s.EnsurePauseImage(ctx)
		if err != nil {
			t.Fatalf("EnsurePauseImage: %v", err)
		}
		if !img.Pinned || !slices.Equal(img.RepoTags, []string{pauseRef}) || !slices.Equal(img.Config.Entrypoint, []string{"/pause"}) {
			t.Fatalf("pause image = %+v", img)
		}
		// Idempotent: a second call finds it.
		again, err := s.EnsurePauseImage(ctx)
		if err != nil || again.ID != img.ID {
			t.Fatalf("second EnsurePauseImage = %v, %v", again, err)
		}
		mounts, err := s.PrepareRootfs(ctx, "pod1", img.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		root := mountRootfs(t, mounts)
		got, err := os.ReadFile(filepath.Join(root, "pause"))
		want, _ := os.ReadFile(bin)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("/pause in rootfs differs from the binary (%v)", err)
		}
		if st, err := os.Stat(filepath.Join(root, "pause")); err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("/pause mode: %v %v", st, err)
		}
		ids = append(ids, img.ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("built-in pause image ID not deterministic: %v", ids)
	}
}

func TestPausePulledWhenAvailable(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	img := smallImage("pause")
	built := reg.Push(t, "pause", "3.10", img)
	s := newService(t, func(c *Config) { c.PauseImage = reg.Ref("pause:3.10"); c.PauseBinary = "/nonexistent" })
	got, err := s.EnsurePauseImage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != built.ID() || !got.Pinned {
		t.Fatalf("pause image = %+v; want pulled %s, pinned", got, built.ID())
	}
	// A re-pull keeps the pin.
	again, err := s.Pull(context.Background(), reg.Ref("pause:3.10"), nil)
	if err != nil || !again.Pinned {
		t.Fatalf("re-pull = %v, %v", again, err)
	}
	// With neither registry nor binary it fails with both reasons.
	s2 := newService(t, func(c *Config) { c.PauseImage = closedPort(t) + "/pause:1"; c.PauseBinary = "/nonexistent" })
	if _, err := s2.EnsurePauseImage(context.Background()); err == nil {
		t.Fatal("EnsurePauseImage without registry or binary succeeded")
	} else {
		t.Log(fmt.Sprint(err))
	}
}
