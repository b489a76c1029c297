package sandbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A request Krill refuses is refused before anything is made: no image
// pull, no netns, no CNI.
func TestRunRefusesBeforeMakingAnything(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	if _, err := e.m.Run(ctx, &runtime.PodSandboxConfig{}, ""); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no metadata: %v, want invalid argument", err)
	}
	if _, err := e.m.Run(ctx, podConfig("p"), "kata"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown handler: %v, want not found", err)
	}
	if got := e.calls.got(); len(got) != 0 {
		t.Fatalf("a refused pod made %v", got)
	}
}

// Without the pause image nothing else is tried, and the pod's name is
// free again for kubelet's retry.
func TestRunStopsAtMissingPauseImage(t *testing.T) {
	e := newFakeEnv(t)
	e.images.pauseErr = fmt.Errorf("pause: %w", errdefs.ErrNotFound)
	if _, err := e.m.Run(context.Background(), podConfig("p"), ""); !errdefs.IsNotFound(err) {
		t.Fatalf("Run: %v, want the image's not found", err)
	}
	if got := e.calls.got(); !slices.Equal(got, []string{"pause image"}) {
		t.Fatalf("calls %v, want only the pause image", got)
	}
	e.images.pauseErr = nil
	e.images.rootfsErr = errBoom
	if _, err := e.m.Run(context.Background(), podConfig("p"), ""); errdefs.IsAlreadyExists(err) {
		t.Fatalf("retry after a failed Run: %v (the name was not released)", err)
	}
}

// When pause fails after the netns and CNI worked, the steps already
// taken are undone newest first: CNI DEL, then the netns. Nothing is
// recorded and the name is released.
func TestRunUndoesNetworkWhenPauseFails(t *testing.T) {
	e := newFakeEnv(t)
	e.images.rootfsErr = errBoom
	_, err := e.m.Run(context.Background(), podConfig("p"), "")
	if err == nil {
		t.Fatal("Run succeeded without a pause container")
	}
	got := e.calls.got()
	if len(got) < 4 || !slices.Equal(got[:2], []string{"pause image", "netns"}) {
		t.Fatalf("calls %v: want the pause image, then the netns first", got)
	}
	// CNI ADD and the pause start run side by side: either order.
	if !slices.Contains(got[2:4], "cni add") || !slices.Contains(got[2:4], "pause rootfs") {
		t.Fatalf("calls %v: want CNI ADD and the pause rootfs third", got)
	}
	if tail := got[len(got)-2:]; !slices.Equal(tail, []string{"cni del", "remove netns"}) {
		t.Fatalf("undo %v, want CNI DEL then the netns", got[4:])
	}
	if n := len(e.m.cfg.Pods.List()); n != 0 {
		t.Fatalf("%d records after a failed Run", n)
	}
	if entries, _ := os.ReadDir(e.net.dir); len(entries) != 0 {
		t.Fatalf("netns files left: %v", entries)
	}
	if _, err := e.m.Run(context.Background(), podConfig("p"), ""); errdefs.IsAlreadyExists(err) {
		t.Fatalf("retry: %v (the name was not released)", err)
	}
}

// A failed CNI ADD is still followed by a DEL (the plugin may have left
// an IP behind), and the CNI error is what the caller sees.
func TestRunTearsDownAfterFailedAdd(t *testing.T) {
	e := newFakeEnv(t)
	e.net.setupErr = errBoom
	e.images.rootfsErr = fmt.Errorf("pause: %w", errdefs.ErrUnavailable)
	_, err := e.m.Run(context.Background(), podConfig("p"), "")
	if err == nil || errdefs.IsUnavailable(err) {
		t.Fatalf("Run: %v, want the network's error", err)
	}
	if e.calls.count("cni del") != 1 || e.calls.count("remove netns") != 1 {
		t.Fatalf("calls %v: want one CNI DEL and the netns removed", e.calls.got())
	}
}

// When CNI DEL keeps failing the netns is kept, so the next start's
// recovery finds it and tries DEL again; DEL is tried three times first.
func TestRunKeepsNetnsWhenDelKeepsFailing(t *testing.T) {
	e := newFakeEnv(t)
	e.images.rootfsErr = errBoom
	e.net.teardownErr = errBoom
	if _, err := e.m.Run(context.Background(), podConfig("p"), ""); err == nil {
		t.Fatal("Run succeeded without a pause container")
	}
	if n := e.calls.count("cni del"); n != 3 {
		t.Fatalf("CNI DEL tried %d times, want 3", n)
	}
	if e.calls.count("remove netns") != 0 {
		t.Fatalf("calls %v: the netns was removed although DEL failed", e.calls.got())
	}
	if entries, _ := os.ReadDir(e.net.dir); len(entries) != 1 {
		t.Fatalf("netns files %v, want the pod's kept", entries)
	}
}

// A host-network pod has no netns and no CNI, not even in its undo.
func TestRunHostNetworkMakesNoNetwork(t *testing.T) {
	e := newFakeEnv(t)
	e.images.rootfsErr = errBoom
	cfg := podConfig("p")
	cfg.Linux = &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE},
	}}
	if _, err := e.m.Run(context.Background(), cfg, ""); err == nil {
		t.Fatal("Run succeeded without a pause container")
	}
	if got := e.calls.got(); !slices.Equal(got, []string{"pause image", "pause rootfs"}) {
		t.Fatalf("calls %v, want no network step", got)
	}
}
