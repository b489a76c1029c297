package streaming

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
)

// fakeBackend runs commands as host processes: enough to exercise the
// streaming plumbing (the real Backend runs them in containers via oci).
type fakeBackend struct {
	mu         sync.Mutex
	containers map[string]bool   // id -> running
	pods       map[string]string // id -> netns path ("" = host network)
	execs      atomic.Int64
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		containers: map[string]bool{"c1": true, "stopped": false},
		pods:       map[string]string{"hostpod": ""},
	}
}

func (f *fakeBackend) ContainerRunning(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	running, ok := f.containers[id]
	switch {
	case !ok:
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	case !running:
		return fmt.Errorf("container %s is not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	return nil
}

func (f *fakeBackend) PodNetNS(id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pods[id]
	if !ok {
		return "", fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)
	}
	return p, nil
}

func (f *fakeBackend) Exec(ctx context.Context, id string, cmd []string, tty bool, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan TerminalSize) (int, error) {
	if err := f.ContainerRunning(id); err != nil {
		return -1, err
	}
	f.execs.Add(1)
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.WaitDelay = 5 * time.Second
	if tty {
		return runTTY(ctx, c, stdin, stdout, resize)
	}
	if stdout != nil {
		c.Stdout = stdout
	}
	if stderr != nil {
		c.Stderr = stderr
	}
	var in io.WriteCloser
	if stdin != nil {
		var err error
		// Not c.Stdin = stdin: os/exec would wait for the client to close
		// stdin even after the process exited.
		if in, err = c.StdinPipe(); err != nil {
			return -1, err
		}
	}
	if err := c.Start(); err != nil {
		return -1, fmt.Errorf("start %q: %w", cmd, err)
	}
	if in != nil {
		go func() {
			io.Copy(in, stdin)
			in.Close()
		}()
	}
	return exitCode(c.Wait())
}

func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// runTTY runs c on a new pseudo-terminal. It waits for the client's first
// window size so that the test's command sees it deterministically.
func runTTY(ctx context.Context, c *exec.Cmd, stdin io.Reader, stdout io.Writer, resize <-chan TerminalSize) (int, error) {
	master, slavePath, err := console.NewPty()
	if err != nil {
		return -1, err
	}
	defer master.Close()
	select {
	case sz, ok := <-resize:
		if ok {
			master.Resize(console.WinSize{Height: sz.Height, Width: sz.Width})
		}
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	go func() {
		for sz := range resize {
			master.Resize(console.WinSize{Height: sz.Height, Width: sz.Width})
		}
	}()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return -1, err
	}
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		slave.Close()
		return -1, err
	}
	slave.Close()
	if stdin != nil {
		go io.Copy(master, stdin)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if stdout != nil {
			io.Copy(stdout, master) // ends with EIO once the process and its children closed the slave
		} else {
			io.Copy(io.Discard, master)
		}
	}()
	code, err := exitCode(c.Wait())
	<-copied
	return code, err
}

// Attach stands in for a container's main process: it greets, then echoes
// stdin to stdout until stdin ends.
func (f *fakeBackend) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) error {
	if err := f.ContainerRunning(id); err != nil {
		return err
	}
	if stdout == nil {
		return fmt.Errorf("fake attach needs stdout: %w", errdefs.ErrInvalidArgument)
	}
	fmt.Fprintf(stdout, "attached to %s\n", id)
	if stderr != nil {
		fmt.Fprintf(stderr, "stderr of %s\n", id)
	}
	if stdin == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, stdin)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
