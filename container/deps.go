package container

import (
	"context"
	"io"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/oci"
)

// Images is what a container needs from package image (*image.Service):
// the image, its rootfs snapshot and the snapshot's usage.
type Images interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	PrepareRootfs(ctx context.Context, key, imageID string, readonly bool) ([]mount.Mount, error)
	RemoveRootfs(ctx context.Context, key string) error
	RootfsUsage(ctx context.Context, key string) (bytes, inodes uint64, err error)
}

// ociRuntime is what a container's life needs from its OCI runtime
// (*oci.Runtime, the pod's handler): an interface so that the order of
// the steps, and what a failure leaves, is unit-tested with a fake.
type ociRuntime interface {
	Create(ctx context.Context, o oci.CreateOpts) (int, error)
	Start(ctx context.Context, id string) error
	Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error
	Signal(ctx context.Context, id string, sig syscall.Signal) error
	Release(ctx context.Context, id string) error
	Wait(ctx context.Context, id string) (*oci.Exit, error)
	Exited(id string) *oci.Exit
	Delete(ctx context.Context, id string) error
	Status(ctx context.Context, id string) (string, error)
	Pid(id string) (int, error)
	ShimPid(id string) (int, bool)
	Exec(ctx context.Context, id string, p *specs.Process, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan remotecommand.TerminalSize) (int, error)
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	Update(ctx context.Context, id string, res *specs.LinuxResources) error
	ReopenLog(ctx context.Context, id string) error
}

var (
	_ Images     = (*image.Service)(nil)
	_ ociRuntime = (*oci.Runtime)(nil)
)

// handler returns the runtime of a configured handler from cfg.Runtimes.
func (m *Manager) handler(name string) (ociRuntime, error) {
	rt, err := m.cfg.Runtimes.Get(name)
	if err != nil {
		return nil, err
	}
	return rt, nil
}
