package oci

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Wait blocks until the container's init has exited and returns how. It only
// uses what is on disk and the shim's socket, so it works just as well for
// containers created by an earlier krilld process:
//   - exit file present: that is the answer;
//   - shim alive: ask it ("wait" on ctl.sock) and then read the exit file;
//   - no shim (the pause container): ask runc; a container still running is
//     watched through a pidfd on its init;
//   - a shim that died before its container: see orphaned.
func (r *Runtime) Wait(ctx context.Context, id string) (*Exit, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir := r.shimDir(id)
	for {
		e, err := readExit(dir)
		if err != nil {
			return nil, fmt.Errorf("wait container %s: %w", id, err)
		}
		if e != nil {
			// The exit is on disk for good: the shim need not linger.
			if _, alive := shimPid(dir); alive {
				actx, cancel := context.WithTimeout(ctx, time.Second)
				ctlRequest(actx, dir, "ack")
				cancel()
			}
			return e, nil
		}
		if _, alive := shimPid(dir); alive {
			if _, err := ctlRequest(ctx, dir, "wait"); err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("wait container %s: %w", id, ctx.Err())
				}
				// The shim is exiting or just went away: look again.
				time.Sleep(20 * time.Millisecond)
			}
			continue
		}
		e, pid, err := r.lostExit(ctx, id)
		if err != nil || e != nil {
			return e, err
		}
		if hadShim(dir) {
			return r.orphaned(ctx, id, pid)
		}
		if !waitPidExit(ctx, pid, 0) && ctx.Err() != nil {
			return nil, fmt.Errorf("wait container %s: %w", id, ctx.Err())
		}
	}
}

// Exited returns the container's exit, or nil while it runs (or if nothing
// is known about it).
func (r *Runtime) Exited(id string) *Exit {
	if checkID(id) != nil {
		return nil
	}
	dir := r.shimDir(id)
	if e, _ := readExit(dir); e != nil {
		return e
	}
	if _, alive := shimPid(dir); alive {
		return nil
	}
	e, _, _ := r.lostExit(context.Background(), id)
	return e
}

// Status asks runc what state the container is in: "created", "running",
// "paused" or "stopped" (errdefs.ErrNotFound when runc has no such
// container). Recovery uses it for a container recorded as created, which
// a krilld killed inside StartContainer may have started.
func (r *Runtime) Status(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	st, err := r.runc.State(ctx, id)
	if err != nil {
		return "", runcError("state", id, err)
	}
	return st.Status, nil
}

// lostExit handles a container without a live shim. The shim writes the
// exit file before it exits, so the file is read again first; after that
// only runc can tell whether the container still runs (pid returned). A
// stopped container whose status nobody recorded gets Code 255, persisted so
// every later answer is the same.
func (r *Runtime) lostExit(ctx context.Context, id string) (*Exit, int, error) {
	dir := r.shimDir(id)
	if e, err := readExit(dir); e != nil || err != nil {
		return e, 0, err
	}
	st, err := r.runc.State(ctx, id)
	if err != nil {
		err = runcError("state", id, err)
		if !errdefs.IsNotFound(err) {
			return nil, 0, err
		}
		if _, serr := os.Stat(dir); serr != nil {
			return nil, 0, err // never heard of it
		}
	} else if st.Status != "stopped" {
		return nil, st.Pid, nil
	}
	e := &Exit{Code: 255, FinishedAt: time.Now(), ShimDied: hadShim(dir)}
	if werr := writeExit(dir, e); werr != nil {
		return nil, 0, fmt.Errorf("container %s: record exit: %w", id, werr)
	}
	return e, 0, nil
}

// orphaned handles a container whose shim died while the container still
// runs: nobody drains its output any more (its log has stopped and a full
// pipe would block it), attach is gone and nobody would record its exit.
// As containerd does when a shim dies, the container is killed, and its
// exit recorded with ShimDied so the reason can say what happened.
func (r *Runtime) orphaned(ctx context.Context, id string, pid int) (*Exit, error) {
	if err := r.Kill(ctx, id, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
		// runc itself failing must not leave the process running.
		unix.Kill(pid, unix.SIGKILL)
	}
	if !waitPidExit(ctx, pid, orphanKillTimeout) {
		return nil, fmt.Errorf("container %s: shim died and the container survived SIGKILL: %w", id, context.DeadlineExceeded)
	}
	e := &Exit{Code: 128 + int(syscall.SIGKILL), Signal: int(syscall.SIGKILL), FinishedAt: time.Now(), ShimDied: true}
	if err := writeExit(r.shimDir(id), e); err != nil {
		return nil, fmt.Errorf("container %s: record exit: %w", id, err)
	}
	return e, nil
}

// orphanKillTimeout bounds the wait for a container killed because its
// shim died (a process in uninterruptible sleep ignores SIGKILL for a while).
const orphanKillTimeout = 10 * time.Second

// hadShim tells whether the container was started under a shim (pause is
// not): its shim.pid stays after the shim is gone.
func hadShim(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, fileShimPid))
	return err == nil
}

// ReopenLog makes the shim close and reopen the container's CRI log file
// (the kubelet renamed it for rotation).
func (r *Runtime) ReopenLog(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	dir := r.shimDir(id)
	if _, alive := shimPid(dir); !alive {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("reopen log of container %s: %w", id, errdefs.ErrNotFound)
		}
		return fmt.Errorf("reopen log of container %s: not running: %w", id, errdefs.ErrFailedPrecondition)
	}
	if _, err := ctlRequest(ctx, dir, "reopen"); err != nil {
		return fmt.Errorf("reopen log of container %s: %w", id, err)
	}
	return nil
}

// ctlRequest sends one request line to the shim's ctl.sock and returns the
// reply after "ok". ctx bounds the whole exchange (a "wait" can take long).
func ctlRequest(ctx context.Context, dir, req string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", filepath.Join(dir, sockCtl))
	if err != nil {
		return "", fmt.Errorf("shim: %v: %w", err, errdefs.ErrUnavailable)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write([]byte(req + "\n")); err != nil {
		return "", fmt.Errorf("shim: %v: %w", err, errdefs.ErrUnavailable)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("shim: %v: %w", err, errdefs.ErrUnavailable)
	}
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return strings.TrimSpace(rest), nil
	}
	msg, _ := strings.CutPrefix(line, "error ")
	return "", fmt.Errorf("shim: %s: %w", msg, errdefs.ErrUnknown)
}

// Pid returns the pid of the container's init as runc reported it at
// create/run time (init.pid), so a restarted krilld can find it again. It
// says nothing about whether that process still runs: use Exited.
func (r *Runtime) Pid(id string) (int, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	pid, err := readPidFile(filepath.Join(r.shimDir(id), fileInitPid))
	if err != nil {
		if os.IsNotExist(err) {
			return 0, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
		}
		return 0, fmt.Errorf("container %s: %w", id, err)
	}
	return pid, nil
}
