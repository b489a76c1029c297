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
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	"github.com/krill-runtime/krill/oci/shimproto"
)

// maxSockPath is the longest path a unix socket address can hold.
const maxSockPath = 107

// createGrace is how long Create still waits for `runc create` once its
// caller has given up (a var for tests).
var createGrace = 30 * time.Second

// Create starts a krill-shim for the container, which runs `runc create`
// and reports back over a pipe that exists only until then. It returns the
// container's init pid, or runc's own error text.
//
// The shim runs in its own session with no pipe or socket held open by
// krilld, so it (and the container, its log and its exit status) outlives
// krilld.
func (r *Runtime) Create(ctx context.Context, o CreateOpts) (int, error) {
	if err := checkID(o.ID); err != nil {
		return 0, err
	}
	if o.Bundle == "" {
		return 0, fmt.Errorf("create container %s: no bundle: %w", o.ID, errdefs.ErrInvalidArgument)
	}
	dir := r.shimDir(o.ID)
	if len(filepath.Join(dir, "console.sock")) > maxSockPath {
		return 0, fmt.Errorf("create container %s: shim directory %s too long for unix sockets: %w", o.ID, dir, errdefs.ErrInvalidArgument)
	}
	if _, alive := shimPid(dir); alive {
		return 0, fmt.Errorf("create container %s: %w", o.ID, errdefs.ErrAlreadyExists)
	}
	if r.known(o.ID) {
		return 0, fmt.Errorf("create container %s: runc knows it already: %w", o.ID, errdefs.ErrAlreadyExists)
	}
	// Leftovers of an earlier container with this id (its shim is gone).
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("create container %s: %w", o.ID, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("create container %s: %w", o.ID, err)
	}

	pid, err := r.startShim(ctx, dir, o)
	if err != nil {
		// The shim exits by itself after reporting an error; make sure of it
		// and of runc forgetting a half-created container. Delete first: a
		// shim whose container was created (the caller gave up) only exits
		// once that container's init is gone.
		r.runc.Delete(context.WithoutCancel(ctx), o.ID, &runc.DeleteOpts{Force: true})
		r.stopShim(context.WithoutCancel(ctx), o.ID)
		os.RemoveAll(dir)
		return 0, err
	}
	return pid, nil
}

func (r *Runtime) startShim(ctx context.Context, dir string, o CreateOpts) (int, error) {
	args := []string{
		"-id", o.ID, "-bundle", o.Bundle, "-runc", r.cfg.RuncPath, "-root", r.cfg.RuncRoot,
		"-dir", dir, "-log", o.LogPath,
	}
	if o.LogRoot != "" {
		args = append(args, "-log-root", o.LogRoot)
	}
	if o.Stdin {
		args = append(args, "-stdin")
	}
	if o.StdinOnce {
		args = append(args, "-stdin-once")
	}
	if o.TTY {
		args = append(args, "-tty")
	}
	if r.cfg.SystemdCgroup {
		args = append(args, "-systemd-cgroup")
	}
	if !OwnsPIDNamespace(o.Bundle) {
		args = append(args, "-kill-all-on-exit")
	}
	shimLog, err := os.OpenFile(filepath.Join(dir, fileShimLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create container %s: %w", o.ID, err)
	}
	defer shimLog.Close()
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("create container %s: %w", o.ID, err)
	}
	defer syncR.Close()

	cmd := exec.Command(r.cfg.ShimPath, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = shimLog, shimLog
	cmd.ExtraFiles = []*os.File{syncW} // fd 3 in the shim
	// A session of its own: no signal aimed at krilld's process group or
	// terminal reaches the shim.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// The Go runtime reads these at start, before the shim's main runs.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=25")
	err = cmd.Start()
	syncW.Close()
	if err != nil {
		return 0, fmt.Errorf("create container %s: start shim: %v: %w", o.ID, err, errdefs.ErrUnknown)
	}
	// Reap the shim when it exits while this krilld runs; after a restart
	// init does it.
	go cmd.Wait()

	// The reply is awaited even after ctx ends: returning while `runc
	// create` still runs would let it finish after the caller's undo and
	// leave a runc container that nobody owns. A cancelled caller only
	// bounds the wait to createGrace more, after which the shim's process
	// group (the shim and its runc) is killed.
	stop := context.AfterFunc(ctx, func() { syncR.SetReadDeadline(time.Now().Add(createGrace)) })
	defer stop()
	reply, err := io.ReadAll(syncR)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		// Even an "ok": the caller has gone and will not learn the
		// container exists; Create's undo removes it, runc being done.
		return 0, fmt.Errorf("create container %s: %w", o.ID, ctx.Err())
	}
	line := strings.TrimSpace(string(reply))
	if rest, ok := strings.CutPrefix(line, "ok "); ok {
		pid, err := strconv.Atoi(rest)
		if err != nil {
			return 0, fmt.Errorf("create container %s: shim replied %q: %w", o.ID, line, errdefs.ErrUnknown)
		}
		return pid, nil
	}
	msg, _ := strings.CutPrefix(line, "error ")
	if msg == "" {
		msg = "shim exited without reporting (see " + filepath.Join(dir, fileShimLog) + ")"
	}
	// runc explains itself in its log; the shim's text is only "exit status 1".
	if runcMsg := runcLogErrors(filepath.Join(dir, fileRuncLog)); runcMsg != "" {
		msg = runcMsg
	}
	return 0, runcError("create", o.ID, errors.New(msg))
}

// stopShim asks a live shim to exit once its container is gone and waits a
// little; a shim that does not comply is killed. It is verified by pid and
// start time (shim.pid), never found by name.
func (r *Runtime) stopShim(ctx context.Context, id string) {
	dir := r.shimDir(id)
	pid, alive := shimPid(dir)
	if !alive {
		return
	}
	actx, cancel := context.WithTimeout(ctx, time.Second)
	ctlRequest(actx, dir, "ack")
	cancel()
	// The shim drains output for up to DrainTimeout after the init's exit;
	// 2 s more covers writing the exit file and its own exit.
	if waitPidExit(ctx, pid, shimproto.DrainTimeout+2*time.Second) {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if _, alive := shimPid(dir); alive {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		waitPidExit(ctx, pid, 2*time.Second)
	}
}
