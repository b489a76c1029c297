package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/krill-runtime/krill/store"
)

// Exec runs cmd inside a running container with the container's own
// environment, user, working directory and security settings: it starts
// from the process of the container's spec and swaps the arguments.
func (m *Manager) Exec(ctx context.Context, id string, cmd []string, tty bool, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan remotecommand.TerminalSize) (int, error) {
	c, err := m.running(id)
	if err != nil {
		return -1, err
	}
	data, err := os.ReadFile(filepath.Join(c.Bundle, "config.json"))
	if err != nil {
		return -1, fmt.Errorf("read spec of %s: %w", c.ID, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return -1, err
	}
	p := *s.Process
	p.Args = cmd
	p.Terminal = tty
	p.ConsoleSize = nil
	rt, err := m.runtime(c)
	if err != nil {
		return -1, err
	}
	return rt.Exec(ctx, c.ID, &p, stdin, stdout, stderr, resize)
}

// Attach connects to the container's stdio through its shim.
func (m *Manager) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	c, err := m.running(id)
	if err != nil {
		return err
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	return rt.Attach(ctx, c.ID, stdin, stdout, stderr, c.Config.GetTty(), resize)
}

// PodNetNS returns the network namespace of a pod, "" with host network.
func (m *Manager) PodNetNS(podID string) (string, error) {
	p, err := m.cfg.Sandboxes.Get(podID)
	if err != nil {
		return "", err
	}
	if p.State != runtime.PodSandboxState_SANDBOX_READY {
		return "", fmt.Errorf("pod %s is not ready: %w", p.ID, errdefs.ErrFailedPrecondition)
	}
	return p.NetNS, nil
}

// ContainerRunning is nil for a running container.
func (m *Manager) ContainerRunning(id string) error {
	_, err := m.running(id)
	return err
}

func (m *Manager) running(id string) (store.Container, error) {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return c, err
	}
	if c.State != runtime.ContainerState_CONTAINER_RUNNING {
		return c, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}
