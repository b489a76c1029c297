package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups/cgroupstest"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// calls is an ordered log of what the fakes were asked to do, shared by
// all of them so a test sees the order across packages.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *calls) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

// count is how many times s was logged.
func (c *calls) count(s string) int {
	n := 0
	for _, x := range c.got() {
		if x == s {
			n++
		}
	}
	return n
}

// fakeNetwork stands for package network: netns files are plain files in
// dir, and each step can be made to fail.
type fakeNetwork struct {
	*calls
	dir                             string
	netnsErr, setupErr, teardownErr error
	teardownFailures                int // how many Teardowns fail with teardownErr (0: all)
	teardowns                       int
}

func (f *fakeNetwork) CreateNetNS(podID string) (string, error) {
	f.add("netns")
	if f.netnsErr != nil {
		return "", f.netnsErr
	}
	p := filepath.Join(f.dir, podID)
	return p, os.WriteFile(p, nil, 0o600)
}

func (f *fakeNetwork) RemoveNetNS(path string) error {
	f.add("remove netns")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err // idempotent, like network.RemoveNetNS
	}
	return nil
}

func (f *fakeNetwork) Setup(ctx context.Context, p network.PodNetwork) (*network.Result, error) {
	f.add("cni add")
	if f.setupErr != nil {
		return nil, f.setupErr
	}
	return &network.Result{IP: "10.0.0.2"}, nil
}

func (f *fakeNetwork) Teardown(ctx context.Context, p network.PodNetwork) error {
	f.add("cni del")
	f.teardowns++
	if f.teardownErr != nil && (f.teardownFailures == 0 || f.teardowns <= f.teardownFailures) {
		return f.teardownErr
	}
	return nil
}

func (f *fakeNetwork) Attachments(podID string) ([]network.Attachment, error) { return nil, nil }

// fakeImages stands for package image: the pause image is there unless
// pauseErr, and preparing its rootfs fails with rootfsErr.
type fakeImages struct {
	*calls
	pauseErr, rootfsErr error
}

func (f *fakeImages) EnsurePauseImage(ctx context.Context) (*image.Image, error) {
	f.add("pause image")
	if f.pauseErr != nil {
		return nil, f.pauseErr
	}
	return &image.Image{ID: "sha256:pause"}, nil
}

func (f *fakeImages) Get(ctx context.Context, ref string) (*image.Image, error) {
	return &image.Image{ID: ref}, nil
}

func (f *fakeImages) PrepareRootfs(ctx context.Context, key, imageID string, readonly bool) ([]mount.Mount, error) {
	f.add("pause rootfs")
	return nil, f.rootfsErr
}

func (f *fakeImages) RemoveRootfs(ctx context.Context, key string) error {
	f.add("remove pause rootfs")
	return nil
}

// fakeContainers records the pod-level calls Stop and Remove make.
type fakeContainers struct {
	mu      sync.Mutex
	calls   []string
	stopErr error
}

func (f *fakeContainers) StopPodContainers(ctx context.Context, podID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+podID)
	return f.stopErr
}

func (f *fakeContainers) RemovePodContainers(ctx context.Context, podID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+podID)
	return nil
}

// ContainerStatuses names one container per pod, so a test sees that the
// pod's events carry them.
func (f *fakeContainers) ContainerStatuses(podID string) []*runtime.ContainerStatus {
	return []*runtime.ContainerStatus{{Id: "ctr-of-" + podID}}
}

func (f *fakeContainers) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeEnv is a Manager over fakes: a temp store, a fake cgroup v2 tree,
// one handler ("runc", never run), a fake network and fake images.
type fakeEnv struct {
	m      *Manager
	calls  *calls
	net    *fakeNetwork
	images *fakeImages
	events *events.Broadcaster
}

func newFakeEnv(t *testing.T) *fakeEnv {
	t.Helper()
	pods, err := store.New[store.Pod](t.TempDir(), "pod.json", "pod sandbox")
	if err != nil {
		t.Fatal(err)
	}
	cg := cgroupstest.V2(t)
	rts, err := oci.NewHandlers("runc", map[string]*oci.Runtime{"runc": nil})
	if err != nil {
		t.Fatal(err)
	}
	c := &calls{}
	e := &fakeEnv{
		calls:  c,
		net:    &fakeNetwork{calls: c, dir: t.TempDir()},
		images: &fakeImages{calls: c},
		events: events.New(),
	}
	e.m, err = New(Config{
		StateDir: t.TempDir(), NetnsDir: e.net.dir, Pods: pods,
		Images: e.images, Network: e.net, Runtimes: rts, Cgroups: cg, Events: e.events,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// putPod records a READY pod with a netns and network but whose pause is
// already gone (PauseRemoved), as Stop and Remove find it after a crash of
// pause: nothing of it needs root, runc or CNI.
func (e *fakeEnv) putPod(t *testing.T, name string) store.Pod {
	t.Helper()
	id := store.NewID()
	netns, err := e.net.CreateNetNS(id)
	if err != nil {
		t.Fatal(err)
	}
	p := store.Pod{
		ID: id, State: runtime.PodSandboxState_SANDBOX_READY, PauseRemoved: true,
		NetNS: netns, NetworkReady: true,
		Config: podConfig(name),
	}
	if err := e.m.cfg.Pods.Put(p); err != nil {
		t.Fatal(err)
	}
	e.calls.log = nil
	return p
}

func podConfig(name string) *runtime.PodSandboxConfig {
	return &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name}}
}

var errBoom = errors.New("boom")
