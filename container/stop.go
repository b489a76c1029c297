package container

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Stop sends the container's stop signal (chosen at create, see
// stopSignalOf), waits up to timeout seconds, then SIGKILLs. Stopping an
// exited or unknown container succeeds, as kubelet and critest's
// idempotence specs expect, and so does stopping a created container,
// which stays CREATED.
func (m *Manager) Stop(ctx context.Context, id string, timeout int64) error {
	c, err := m.cfg.Containers.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	c, err = m.cfg.Containers.Get(c.ID)
	if err != nil {
		return nil
	}
	if c.State != runtime.ContainerState_CONTAINER_RUNNING {
		// Exited, or created and never started: no process to stop (runc
		// create waits for Start), so nothing changes, as in containerd.
		return nil
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	done := m.exitedChan(c.ID)
	if timeout > 0 {
		sig := m.stopSignal(c)
		if err := rt.Signal(ctx, c.ID, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal container %s: %w", c.ID, err)
		}
		select {
		case <-done:
			return nil
		case <-time.After(time.Duration(timeout) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := m.killAll(ctx, rt, c); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill container %s: %w", c.ID, err)
	}
	if !m.waitExit(ctx, c.ID, 30*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL: %w", c.ID, context.DeadlineExceeded)
	}
	return nil
}

func (m *Manager) exitedChan(id string) chan struct{} {
	ch, _ := m.exited.LoadOrStore(id, make(chan struct{}))
	return ch.(chan struct{})
}

// waitExit waits until the waiter recorded the exit.
func (m *Manager) waitExit(ctx context.Context, id string, d time.Duration) bool {
	select {
	case <-m.exitedChan(id):
		return true
	case <-time.After(d):
		return false
	case <-ctx.Done():
		return false
	}
}

// stopSignal is the signal recorded at create. Records written before
// Krill kept it fall back to the image's STOPSIGNAL, then SIGTERM.
func (m *Manager) stopSignal(c store.Container) syscall.Signal {
	name := c.StopSignal
	if name == "" {
		if img, err := m.cfg.Images.Get(context.Background(), c.ImageID); err == nil {
			name = img.Config.StopSignal
		}
	}
	if sig, err := parseSignal(name); err == nil {
		return sig
	}
	return syscall.SIGTERM
}
