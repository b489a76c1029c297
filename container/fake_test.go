package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/krill-runtime/krill/cgroups/cgroupstest"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// calls is the ordered log of what the fakes were asked to do.
type calls struct {
	mu  sync.Mutex
	log []string
}

func (c *calls) add(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, fmt.Sprintf(format, a...))
}

func (c *calls) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *calls) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = nil
}

// fakeImages stands for package image: every image exists except
// "missing"; rootfs snapshots are empty mount lists (nothing to mount).
type fakeImages struct{ *calls }

func (f *fakeImages) Get(ctx context.Context, ref string) (*image.Image, error) {
	if ref == "missing" {
		return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	return &image.Image{ID: "sha256:" + ref}, nil
}

func (f *fakeImages) PrepareRootfs(ctx context.Context, key, imageID string, readonly bool) ([]mount.Mount, error) {
	f.add("prepare rootfs")
	return nil, nil
}

func (f *fakeImages) RemoveRootfs(ctx context.Context, key string) error {
	f.add("remove rootfs")
	return nil
}

func (f *fakeImages) RootfsUsage(ctx context.Context, key string) (uint64, uint64, error) {
	return 0, 0, nil
}

// fakeRuntime stands for the OCI runtime. Each method can be made to fail;
// a signal in exitOn makes the "process" exit, as the waiter would record
// it (exit is set by the test).
type fakeRuntime struct {
	*calls
	createErr, startErr, deleteErr error
	exitOn                         []syscall.Signal
	exit                           func(id string)
}

func (f *fakeRuntime) Create(ctx context.Context, o oci.CreateOpts) (int, error) {
	f.add("runc create")
	return 4242, f.createErr
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.add("runc start")
	return f.startErr
}

func (f *fakeRuntime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	f.add("kill %s", sig)
	if slices.Contains(f.exitOn, sig) {
		f.exit(id)
	}
	return nil
}

// Signal is the shim's pidfd signal to the init alone (StopContainer's).
func (f *fakeRuntime) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	f.add("signal %s", sig)
	if slices.Contains(f.exitOn, sig) {
		f.exit(id)
	}
	return nil
}

// Release is the exit path's `runc delete` of an exited container.
func (f *fakeRuntime) Release(ctx context.Context, id string) error {
	f.add("runc release")
	return nil
}

func (f *fakeRuntime) Delete(ctx context.Context, id string) error {
	f.add("runc delete")
	return f.deleteErr
}

func (f *fakeRuntime) Wait(ctx context.Context, id string) (*oci.Exit, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (f *fakeRuntime) Exited(id string) *oci.Exit                            { return nil }
func (f *fakeRuntime) Status(ctx context.Context, id string) (string, error) { return "stopped", nil }
func (f *fakeRuntime) Pid(id string) (int, error)                            { return 0, errdefs.ErrNotFound }
func (f *fakeRuntime) ShimPid(id string) (int, bool)                         { return 0, false }
func (f *fakeRuntime) Exec(ctx context.Context, id string, p *specs.Process, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan remotecommand.TerminalSize) (int, error) {
	return 0, errdefs.ErrNotImplemented
}
func (f *fakeRuntime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return errdefs.ErrNotImplemented
}
func (f *fakeRuntime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	return nil
}
func (f *fakeRuntime) ReopenLog(ctx context.Context, id string) error { return nil }

// fakeEnv is a container Manager over fakes: temp stores, a real sandbox
// manager holding one READY pod whose pause is not running (so a create
// fails at the pause check, after its rootfs step), a fake cgroup v2
// tree, fake images and a fake runtime.
type fakeEnv struct {
	m     *Manager
	calls *calls
	rt    *fakeRuntime
	pod   store.Pod
	pods  *store.Store[store.Pod] // the sandbox manager's records
}

func newFakeEnv(t *testing.T) *fakeEnv {
	t.Helper()
	podStore, err := store.New[store.Pod](t.TempDir(), "pod.json", "pod sandbox")
	if err != nil {
		t.Fatal(err)
	}
	pod := store.Pod{
		ID: store.NewID(), State: runtime.PodSandboxState_SANDBOX_READY,
		Config: &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"}},
	}
	if err := podStore.Put(pod); err != nil {
		t.Fatal(err)
	}
	pods, err := sandbox.New(sandbox.Config{StateDir: t.TempDir(), NetnsDir: t.TempDir(), Pods: podStore})
	if err != nil {
		t.Fatal(err)
	}
	ctrStore, err := store.New[store.Container](t.TempDir(), "container.json", "container")
	if err != nil {
		t.Fatal(err)
	}
	cg := cgroupstest.V2(t)
	c := &calls{}
	e := &fakeEnv{calls: c, rt: &fakeRuntime{calls: c}, pod: pod, pods: podStore}
	e.m, err = New(Config{
		StateDir: t.TempDir(), Containers: ctrStore, Sandboxes: pods,
		Images: &fakeImages{calls: c}, Cgroups: cg,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.m.runtimeFor = func(string) (ociRuntime, error) { return e.rt, nil }
	e.m.unmountAll = func(target string) error {
		c.add("unmount rootfs")
		return nil
	}
	// The waiter's part: record the exit and wake Stop.
	e.rt.exit = func(id string) {
		e.m.cfg.Containers.Update(id, func(r *store.Container) error {
			r.State = runtime.ContainerState_CONTAINER_EXITED
			return nil
		})
		e.m.closeExited(id)
	}
	return e
}

// putContainer records a container of the pod in state, with a bundle
// directory, as Create (or Start) would have left it.
func (e *fakeEnv) putContainer(t *testing.T, name string, state runtime.ContainerState) store.Container {
	t.Helper()
	id := store.NewID()
	c := store.Container{
		ID: id, PodID: e.pod.ID, State: state, Bundle: e.m.bundle(id),
		Config:      ctrConfig(name, "busybox"),
		CgroupsPath: e.m.cfg.Cgroups.ContainerPath("", id),
	}
	if err := os.MkdirAll(filepath.Join(c.Bundle, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.m.cfg.Containers.Put(c); err != nil {
		t.Fatal(err)
	}
	e.m.names.Reserve(nameKey(c.PodID, c.Config.GetMetadata()), c.ID)
	return c
}

func ctrConfig(name, image string) *runtime.ContainerConfig {
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: name},
		Image:    &runtime.ImageSpec{Image: image},
	}
}
