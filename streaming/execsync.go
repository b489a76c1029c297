package streaming

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
)

// MaxExecSyncOutput is how much of each of stdout and stderr ExecSync keeps.
// Output beyond it is read and thrown away, never buffered: a probe that
// prints without end must not grow the daemon (CVE-2022-1708).
const MaxExecSyncOutput = 16 << 20

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

	out := &cappedBuffer{limit: MaxExecSyncOutput}
	errOut := &cappedBuffer{limit: MaxExecSyncOutput}
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

// cappedBuffer keeps the first limit bytes written to it and reports every
// write as complete, so the writer never blocks or fails on a full buffer.
// It grows no larger than limit.
type cappedBuffer struct {
	buf       []byte
	limit     int
	discarded int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	room := c.limit - len(c.buf)
	if room < len(p) {
		c.discarded += int64(len(p) - max(room, 0))
		p = p[:max(room, 0)]
	}
	if len(p) == 0 {
		return n, nil
	}
	if need := len(c.buf) + len(p); need > cap(c.buf) {
		grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), need, 4096), c.limit))
		copy(grown, c.buf)
		c.buf = grown
	}
	c.buf = append(c.buf, p...)
	return n, nil
}

// Close lets cappedBuffer be a Backend's io.WriteCloser; nothing to release.
func (c *cappedBuffer) Close() error { return nil }
