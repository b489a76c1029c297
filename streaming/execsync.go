package streaming

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// MaxExecSyncOutput is how much of stdout and stderr together ExecSync
// keeps: the answer must fit in kubelet's largest gRPC message (16 MiB),
// with room for the rest of the message. Output beyond it is read and
// thrown away, never buffered: a probe that prints without end must not
// grow the daemon (CVE-2022-1708).
const MaxExecSyncOutput = 16<<20 - 4<<10

// ExecSync runs cmd in the container to completion and returns its output
// and exit code. timeout 0 means no timeout. When the timeout expires, the
// Backend's context is cancelled (it kills the process) and the error wraps
// context.DeadlineExceeded, which the CRI layer reports as
// codes.DeadlineExceeded: kubelet reads exactly that code as a timed-out
// probe, and critest only needs an error.
func ExecSync(ctx context.Context, b Backend, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int, err error) {
	if containerID == "" {
		return nil, nil, 0, fmt.Errorf("exec sync: no container id: %w", errdefs.ErrInvalidArgument)
	}
	if len(cmd) == 0 || cmd[0] == "" {
		return nil, nil, 0, fmt.Errorf("exec sync in container %s: no command: %w", containerID, errdefs.ErrInvalidArgument)
	}
	if timeout < 0 {
		return nil, nil, 0, fmt.Errorf("exec sync in container %s: negative timeout: %w", containerID, errdefs.ErrInvalidArgument)
	}
	if err := b.ContainerRunning(containerID); err != nil {
		return nil, nil, 0, fmt.Errorf("exec sync in container %s: %w", containerID, err)
	}

	execCtx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		execCtx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()

	budget := &outputBudget{left: MaxExecSyncOutput}
	out := &cappedBuffer{budget: budget}
	errOut := &cappedBuffer{budget: budget}
	code, err := b.Exec(execCtx, containerID, cmd, false, nil, out, errOut, nil)
	switch {
	case ctx.Err() != nil:
		// The caller (the gRPC client) went away or gave up first.
		return nil, nil, 0, fmt.Errorf("exec sync %q in container %s: %w", cmd, containerID, ctx.Err())
	case errors.Is(execCtx.Err(), context.DeadlineExceeded):
		// Even if the process exited in the same instant, the caller asked for
		// a bound; report the timeout rather than a kill's exit code.
		return nil, nil, 0, fmt.Errorf("exec sync %q in container %s: timeout %v exceeded: %w", cmd, containerID, timeout, context.DeadlineExceeded)
	case err != nil:
		return nil, nil, 0, fmt.Errorf("exec sync %q in container %s: %w", cmd, containerID, err)
	}
	return out.buf, errOut.buf, code, nil
}

// outputBudget is what stdout and stderr may still keep, together. The
// two streams are copied by two goroutines, hence the lock.
type outputBudget struct {
	mu   sync.Mutex
	left int
}

// take reserves up to n bytes and returns how many it got.
func (b *outputBudget) take(n int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.left)
	b.left -= n
	return n
}

func (b *outputBudget) remaining() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

// cappedBuffer keeps what its budget allows of what is written to it and
// reports every write as complete, so the writer never blocks or fails on
// a full buffer. Its capacity never exceeds what it holds plus what the
// budget has left.
type cappedBuffer struct {
	buf       []byte
	budget    *outputBudget
	discarded int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	keep := c.budget.take(len(p))
	c.discarded += int64(len(p) - keep)
	p = p[:keep]
	if len(p) == 0 {
		return n, nil
	}
	if need := len(c.buf) + len(p); need > cap(c.buf) {
		grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), need, 4096), need+c.budget.remaining()))
		copy(grown, c.buf)
		c.buf = grown
	}
	c.buf = append(c.buf, p...)
	return n, nil
}

// Close lets cappedBuffer be a Backend's io.WriteCloser; nothing to release.
func (c *cappedBuffer) Close() error { return nil }
