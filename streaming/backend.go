package streaming

import (
	"context"
	"io"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// TerminalSize is the resize event type the streaming library delivers
// (k8s.io/cri-streaming's own type, not client-go's).
type TerminalSize = remotecommand.TerminalSize

// Backend is what the container layer supplies: how to run a process in a
// container, attach to a container's main process, and find a pod's network
// namespace. All errors should wrap containerd errdefs sentinels.
type Backend interface {
	// Exec runs cmd in the running container containerID, with the
	// container's environment, working directory and user, and returns its
	// exit code once it has exited and its output has been fully written to
	// stdout and stderr.
	//
	// stdin, stdout and stderr are nil when the client did not ask for them
	// (stderr is always nil with tty). When stdin reaches EOF the process's
	// stdin must be closed. With tty, the process gets a terminal and resize
	// delivers window sizes (nil without tty); the Backend must keep
	// draining resize until it returns.
	//
	// When ctx is done the Backend must kill the process and return: that is
	// how ExecSync timeouts and server shutdown end a process. err is for
	// failures to run at all (unknown container: ErrNotFound; not running:
	// ErrFailedPrecondition; no such executable: whatever runc reports);
	// a process that ran and failed returns its code with err == nil
	// (128+signal when it was killed by a signal).
	//
	// Exec must not use stdout/stderr after it returns; closing them is
	// allowed but not required.
	Exec(ctx context.Context, containerID string, cmd []string, tty bool, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan TerminalSize) (exitCode int, err error)

	// Attach connects the streams to the main process of the running
	// container containerID until the process exits, the client goes away
	// (stdin returns an error, or EOF when the container's stdin is
	// StdinOnce) or ctx is done. Detaching must never stop the container.
	// The nil-stream and resize rules are those of Exec.
	Attach(ctx context.Context, containerID string, stdin io.Reader, stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) error

	// PodNetNS returns the path of the pod's network namespace file, or ""
	// for a pod on the host network. Unknown pod: ErrNotFound; pod not ready:
	// ErrFailedPrecondition.
	PodNetNS(podID string) (path string, err error)

	// ContainerRunning returns nil when containerID exists and is running,
	// an error wrapping ErrNotFound when it does not exist, and one wrapping
	// ErrFailedPrecondition when it is not running.
	ContainerRunning(containerID string) error
}
