package container

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stop sends the image's stop signal (SIGTERM by default), waits up to
// timeout seconds, then SIGKILLs. Stopping an exited or unknown container
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
	if c.State == runtime.ContainerState_CONTAINER_EXITED {
		return nil // before the runtime lookup: nothing to ask it
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	switch c.State {
	case runtime.ContainerState_CONTAINER_CREATED:
		// Never started: its process waits in runc init; kill it and
		// record it as exited so that it can be removed.
		if err := rt.Kill(ctx, c.ID, syscall.SIGKILL, false); err != nil && !errdefs.IsNotFound(err) {
			m.Log.Warn("kill created container", "container", c.ID, "err", err)
		}
		m.waitExit(ctx, c.ID, 10*time.Second)
		return nil
	}
	done := m.exitedChan(c.ID)
	if timeout > 0 {
		sig := syscall.SIGTERM
		if s, err := m.stopSignal(c.ImageID); err == nil && s != 0 {
			sig = s
		}
		if err := rt.Kill(ctx, c.ID, sig, false); err != nil && !errdefs.IsNotFound(err) {
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
	if err := rt.Kill(ctx, c.ID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
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
		rt, err := m.runtime(c)
		if err != nil {
			return false
		}
		exit, err := rt.Wait(wctx, id)
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

func (m *Manager) stopSignal(imageID string) (syscall.Signal, error) {
	img, err := m.Images.Get(context.Background(), imageID)
	if err != nil || img.Config.StopSignal == "" {
		return 0, err
	}
	return parseSignal(img.Config.StopSignal)
}

// parseSignal reads an image's STOPSIGNAL: "SIGTERM", "TERM" or "15".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return syscall.Signal(n), nil
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	if n := unix.SignalNum(s); n != 0 {
		return n, nil
	}
	return 0, fmt.Errorf("unknown stop signal %q: %w", s, errdefs.ErrInvalidArgument)
}
