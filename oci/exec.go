package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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
	var sock *consoleSocket
	if p.Terminal {
		if sock, err = newConsoleSocket(filepath.Join(tmp, "pty.sock")); err != nil {
			return -1, fmt.Errorf("exec in container %s: %w", id, err)
		}
		defer sock.Close()
		opts.ConsoleSocket = sock
		copies.Add(1)
		go func() {
			defer copies.Done()
			master := sock.receive()
			if master == nil {
				return // runc failed before handing over a terminal
			}
			sock.setMaster(master)
			if stdin != nil {
				go io.Copy(master, stdin)
			}
			copyOut(stdout, master)
			master.Close()
		}()
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
	if resize != nil && sock != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					sock.resize(sz)
				}
			}
		}()
	}

	runErr := rr.Exec(runCtx, id, *p, opts)
	close(done)
	if sock != nil {
		sock.Close() // unblocks a receive that never got a connection
		if m := sock.master(); m != nil {
			closeOnCancel = append(closeOnCancel, m)
		}
	}

	// Output may still be in flight after the process exited; a background
	// process holding the pipes open is only cut short by ctx.
	copied := make(chan struct{})
	go func() { copies.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-ctx.Done():
		for _, c := range closeOnCancel {
			c.Close()
		}
		<-copied
	}

	code = 0
	if runErr != nil {
		var ee *runc.ExitError
		if !errors.As(runErr, &ee) {
			return -1, runcError("exec in", id, runErr)
		}
		code = ee.Status
	}
	if ctx.Err() != nil {
		return code, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
	if code != 0 {
		if msg := runcLogErrors(logFile); msg != "" {
			return code, runcError("exec in", id, errors.New(msg))
		}
	}
	return code, nil
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

// consoleSocket receives the pty master of a `runc exec --tty` on a unix
// socket (runc's --console-socket protocol: one message, one fd).
type consoleSocket struct {
	path string
	l    *net.UnixListener
	mu   sync.Mutex
	m    *os.File
	size *remotecommand.TerminalSize // a resize that came before the master
}

func newConsoleSocket(path string) (*consoleSocket, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	return &consoleSocket{path: path, l: l}, nil
}

func (s *consoleSocket) Path() string { return s.path }
func (s *consoleSocket) Close() error { return s.l.Close() }

func (s *consoleSocket) setMaster(m *os.File) {
	s.mu.Lock()
	s.m = m
	size := s.size
	s.mu.Unlock()
	if size != nil {
		setWinsize(m, *size)
	}
}

func (s *consoleSocket) master() *os.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

// receive waits for runc's connection; nil if the socket was closed first.
func (s *consoleSocket) receive() *os.File {
	c, err := s.l.AcceptUnix()
	if err != nil {
		return nil
	}
	defer c.Close()
	oob := make([]byte, unix.CmsgSpace(4))
	buf := make([]byte, 256)
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil
	}
	unix.CloseOnExec(fds[0])
	// Non-blocking so reads go through Go's poller and Close interrupts them.
	unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "pty-master")
}

func (s *consoleSocket) resize(sz remotecommand.TerminalSize) {
	s.mu.Lock()
	m := s.m
	if m == nil {
		s.size = &sz
	}
	s.mu.Unlock()
	if m != nil {
		setWinsize(m, sz)
	}
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
