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
// stopSignalOf), waits up to timeout seconds, then SIGKILLs. Stopping an exited or unknown container
// succeeds, as kubelet and critest's idempotence specs expect.
func (m *Manager) Stop(ctx context.Context, id string, timeout int64) error {
	c, err := m.Containers.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	c, err = m.Containers.Get(c.ID)
	if err != nil {
		return nil
	}
	switch c.State {
	case runtime.ContainerState_CONTAINER_EXITED:
		return nil
	case runtime.ContainerState_CONTAINER_CREATED:
		// Never started: its process waits in runc init; kill it and
		// record it as exited so that it can be removed.
		if err := m.Runtime.Kill(ctx, c.ID, syscall.SIGKILL, false); err != nil && !errdefs.IsNotFound(err) {
			m.Log.Warn("kill created container", "container", c.ID, "err", err)
		}
		m.waitExit(ctx, c.ID, 10*time.Second)
		return nil
	}
	done := m.exitedChan(c.ID)
	if timeout > 0 {
		sig := m.stopSignal(c)
		if err := m.Runtime.Kill(ctx, c.ID, sig, false); err != nil && !errdefs.IsNotFound(err) {
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
	if err := m.Runtime.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
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

// waitExit waits until the waiter recorded the exit. A container that was
// created but never started has no waiter: then the shim's exit is read
// directly.
func (m *Manager) waitExit(ctx context.Context, id string, d time.Duration) bool {
	c, err := m.Containers.Get(id)
	if err != nil {
		return true
	}
	if c.State == runtime.ContainerState_CONTAINER_CREATED {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		exit, err := m.Runtime.Wait(wctx, id)
		if err != nil {
			return false
		}
		m.recordExit(id, exit)
		return true
	}
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
		if img, err := m.Images.Get(context.Background(), c.ImageID); err == nil {
			name = img.Config.StopSignal
		}
	}
	if sig, err := parseSignal(name); err == nil {
		return sig
	}
	return syscall.SIGTERM
}
