package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Exec runs p in the container with `runc exec --process` and returns its
// exit code. With p.Terminal the process gets a pty (runc hands us the
// master over a console socket) and stderr is unused. stdout and stderr are
// closed when Exec returns.
//
// When ctx ends (an ExecSync timeout) the exec'd process itself is killed:
// killing `runc exec` alone would leave it running in the container.
// Output is awaited for at most Config.ExecDrain after the process exited
// (see waitRunc).
// Everything Exec starts ends before it returns, except the goroutine
// copying stdin, which ends when the caller's stdin does (a Reader cannot be
// interrupted).
func (r *Runtime) Exec(ctx context.Context, id string, p *specs.Process, stdin io.Reader, stdout, stderr io.WriteCloser, resize <-chan remotecommand.TerminalSize) (code int, err error) {
	defer closeWriters(stdout, stderr)
	if err := checkID(id); err != nil {
		return -1, err
	}
	if p == nil {
		return -1, fmt.Errorf("exec in container %s: no process: %w", id, errdefs.ErrInvalidArgument)
	}
	// Hidden name: cannot clash with a container id (those start with an
	// alphanumeric).
	tmp, err := os.MkdirTemp(r.cfg.ShimDir, ".exec-")
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer os.RemoveAll(tmp)
	pidFile := filepath.Join(tmp, "pid")
	logFile := filepath.Join(tmp, "runc.log")

	rr := *r.runc
	rr.LogFormat = runc.JSON // so runc's own errors can be told from the process's output
	opts := &runc.ExecOpts{PidFile: pidFile, LogFile: logFile}

	var copies sync.WaitGroup
	var closeOnCancel []io.Closer // what blocks the copies if ctx ends
	var term *ptyIO
	if p.Terminal {
		if term, err = newPtyIO(); err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		defer term.Close()
		opts.IO = term
		if stdin != nil {
			go io.Copy(term.master, stdin)
		}
		copies.Add(1)
		go func() { defer copies.Done(); copyOut(stdout, term.master) }()
		closeOnCancel = append(closeOnCancel, term.master)
	} else {
		pio, err := newProcIO(stdin != nil)
		if err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		defer pio.Close()
		opts.IO = pio
		if stdin != nil {
			go func() {
				io.Copy(pio.inW, stdin)
				pio.inW.Close()
			}()
		}
		copies.Add(2)
		go func() { defer copies.Done(); copyOut(stdout, pio.outR) }()
		go func() { defer copies.Done(); copyOut(stderr, pio.errR) }()
		closeOnCancel = append(closeOnCancel, pio.outR, pio.errR)
	}

	// runc gets its own context: on cancel the process is killed first and
	// runc is given the chance to report it.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		killExecProcess(pidFile, done)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			cancelRun()
		}
	}()
	if resize != nil && term != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					// runc has the pty as its controlling terminal, gets
					// SIGWINCH and passes the size on to the container's pty.
					setWinsize(term.master, sz)
				}
			}
		}()
	}

	watch, err := watchExit(pidFile)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	defer watch.stop()
	runDone := make(chan error, 1)
	go func() { runDone <- rr.Exec(runCtx, id, *p, opts) }()
	runErr, held := r.waitRunc(runDone, watch.exited, cancelRun)
	close(done)

	held = r.drainOutput(ctx, &copies, closeOnCancel) || held

	code = 0
	if runErr != nil && !held {
		var ee *runc.ExitError
		if !errors.As(runErr, &ee) {
			return -1, runcError("exec in", id, runErr)
		}
		code = ee.Status
	}
	if ctx.Err() != nil {
		return code, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
	if held {
		// DeadlineExceeded: what kubelet reads as a probe that timed out,
		// which is what the same probe does on containerd without a drain
		// bound, only later. The exit code is lost with runc, which had
		// reaped the process.
		return -1, fmt.Errorf("exec in container %s: the process exited, but its output (stdout/stderr) was still held open %v later by a process it left running in the background; the rest of the output was dropped and that process left running: %w",
			id, r.cfg.ExecDrain, context.DeadlineExceeded)
	}
	if code != 0 {
		if msg := runcLogErrors(logFile); msg != "" {
			return code, runcError("exec in", id, errors.New(msg))
		}
	}
	return code, nil
}

// waitRunc waits for `runc exec` to return. runc returns only once it has
// copied all of the process's output (or pty), which a child the process
// left in the background (`sh -c 'sleep 365d &'`) holds open for as long as
// it lives. So once the process itself has exited, runc gets
// Config.ExecDrain more, then is killed. The child is left alone, as
// containerd does: it gets EPIPE, or SIGPIPE, on its next write. held
// reports that runc was cut short.
func (r *Runtime) waitRunc(runDone <-chan error, exited <-chan struct{}, kill func()) (err error, held bool) {
	select {
	case err := <-runDone:
		return err, false
	case <-exited:
	}
	var bound <-chan time.Time
	if r.cfg.ExecDrain > 0 {
		t := time.NewTimer(r.cfg.ExecDrain)
		defer t.Stop()
		bound = t.C
	}
	select {
	case err := <-runDone:
		return err, false
	case <-bound:
		kill()
		return <-runDone, true
	}
}

// drainOutput waits until the output runc passed on is copied: up to
// Config.ExecDrain, or until ctx ends; then the read ends are closed, which
// ends the copies. It reports whether output was cut off by the bound.
func (r *Runtime) drainOutput(ctx context.Context, copies *sync.WaitGroup, readEnds []io.Closer) (held bool) {
	copied := make(chan struct{})
	go func() { copies.Wait(); close(copied) }()
	var bound <-chan time.Time
	if r.cfg.ExecDrain > 0 {
		t := time.NewTimer(r.cfg.ExecDrain)
		defer t.Stop()
		bound = t.C
	}
	select {
	case <-copied:
		return false
	case <-ctx.Done():
	case <-bound:
		held = true
	}
	for _, c := range readEnds {
		c.Close()
	}
	<-copied
	return held
}

// killExecProcess kills the exec'd process once runc has written its pid.
// runc is still waiting for it, so the pid cannot have been reused yet.
func killExecProcess(pidFile string, done <-chan struct{}) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if pid, err := readPidFile(pidFile); err == nil {
			unix.Kill(pid, unix.SIGKILL)
			return
		}
		select {
		case <-done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func copyOut(w io.Writer, r io.Reader) {
	if w == nil {
		w = io.Discard
	}
	io.Copy(w, r)
}

func closeWriters(stdout, stderr io.WriteCloser) {
	if stdout != nil {
		stdout.Close()
	}
	if stderr != nil && stderr != stdout {
		stderr.Close()
	}
}

// procIO gives `runc exec` pipes as stdio (runc passes them on to the
// process). Our copies of the process's ends are closed right after start,
// so EOF arrives when the process (and its children) close theirs.
type procIO struct {
	inR, inW, outR, outW, errR, errW *os.File
}

func newProcIO(withStdin bool) (*procIO, error) {
	p := &procIO{}
	var err error
	if withStdin {
		if p.inR, p.inW, err = os.Pipe(); err != nil {
			return nil, err
		}
	}
	if p.outR, p.outW, err = os.Pipe(); err != nil {
		p.Close()
		return nil, err
	}
	if p.errR, p.errW, err = os.Pipe(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *procIO) Stdin() io.WriteCloser { return p.inW }
func (p *procIO) Stdout() io.ReadCloser { return p.outR }
func (p *procIO) Stderr() io.ReadCloser { return p.errR }

func (p *procIO) Set(cmd *exec.Cmd) {
	if p.inR != nil {
		cmd.Stdin = p.inR
	}
	cmd.Stdout = p.outW
	cmd.Stderr = p.errW
}

// CloseAfterStart closes the ends that now belong to runc and the process.
func (p *procIO) CloseAfterStart() error {
	for _, f := range []*os.File{p.inR, p.outW, p.errW} {
		if f != nil {
			f.Close()
		}
	}
	return nil
}

func (p *procIO) Close() error {
	for _, f := range []*os.File{p.inR, p.inW, p.outR, p.outW, p.errR, p.errW} {
		if f != nil {
			f.Close()
		}
	}
	return nil
}

// ptyIO runs `runc exec` (not detached) on a pty of ours for a terminal
// process. runc refuses --console-socket unless it detaches, and a detached
// process is not our child, so we could not get its exit status. In the
// foreground runc makes its own pty in the container and copies between it
// and its stdio (our pty's slave, put in raw mode so only the container's pty
// processes input and output). Our slave is runc's controlling terminal, so
// a TIOCSWINSZ on our master sends runc SIGWINCH and runc resizes the
// container's pty to match.
type ptyIO struct {
	master, slave *os.File
}

func newPtyIO() (*ptyIO, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("pty number: %w", err)
	}
	sfd, err := unix.Open("/dev/pts/"+strconv.Itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(mfd)
		return nil, fmt.Errorf("open pty slave: %w", err)
	}
	if err := makeRaw(sfd); err != nil {
		unix.Close(mfd)
		unix.Close(sfd)
		return nil, err
	}
	// Non-blocking so reads go through Go's poller and Close interrupts them.
	unix.SetNonblock(mfd, true)
	return &ptyIO{master: os.NewFile(uintptr(mfd), "pty-master"), slave: os.NewFile(uintptr(sfd), "pty-slave")}, nil
}

// makeRaw is cfmakeraw(3).
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("pty termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("pty raw mode: %w", err)
	}
	return nil
}

func (p *ptyIO) Stdin() io.WriteCloser { return p.master }
func (p *ptyIO) Stdout() io.ReadCloser { return p.master }
func (p *ptyIO) Stderr() io.ReadCloser { return nil }

func (p *ptyIO) Set(cmd *exec.Cmd) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.slave, p.slave, p.slave
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = false
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0 // stdin in the child
}

// CloseAfterStart drops our slave fd, so the master sees EIO once runc and
// the process are gone.
func (p *ptyIO) CloseAfterStart() error { return p.slave.Close() }

func (p *ptyIO) Close() error {
	p.slave.Close()
	return p.master.Close()
}

func setWinsize(m *os.File, sz remotecommand.TerminalSize) error {
	rc, err := m.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: sz.Width, Row: sz.Height})
	}); err != nil {
		return err
	}
	return ioErr
}
