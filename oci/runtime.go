package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Config says where runc, the shim and their state live. Any OCI runtime
// with runc's command line (runc, crun) can be RuncPath.
type Config struct {
	RuncPath string // runc binary; "" = "runc" from PATH
	RuncRoot string // runc --root (state/runc for the built-in handler)
	ShimPath string // krill-shim binary; "" = "krill-shim" from PATH
	ShimDir  string // state/shims: one directory per container
	// ExecDrain is how long Exec waits for output once the exec'd process
	// exited; 0 waits until Exec's context ends.
	ExecDrain time.Duration
	// SystemdCgroup runs every runc command with --systemd-cgroup: the
	// systemd cgroup driver, for cgroupsPaths of the "slice:prefix:name"
	// form.
	SystemdCgroup bool
}

// CreateOpts describes a container to create under a shim.
type CreateOpts struct {
	ID, Bundle            string
	LogPath               string // CRI log file; "" discards output
	LogRoot               string // trusted dir LogPath lies below; the shim opens the rest without following symlinks
	Stdin, StdinOnce, TTY bool
}

// Exit is how a container's init process ended. Code is 128+Signal when it
// was killed by a signal; Code 255 with Signal 0 means the real status was
// lost (the shim died before the container).
type Exit struct {
	Code       int
	Signal     int
	FinishedAt time.Time
	// ShimDied: the container's shim died before it, so krilld killed the
	// container (or found it dead with its status lost).
	ShimDied bool
}

// Runtime runs containers with runc and krill-shim. It keeps no state in
// memory that matters: everything is in Config.ShimDir and runc's root, so a
// new Runtime after a krilld restart picks up where the old one left.
type Runtime struct {
	cfg   Config
	runc  *runc.Runc
	probe probe
}

// New checks the binaries and creates the state directories.
func New(cfg Config) (*Runtime, error) {
	if cfg.RuncRoot == "" || cfg.ShimDir == "" {
		return nil, fmt.Errorf("oci: RuncRoot and ShimDir are required: %w", errdefs.ErrInvalidArgument)
	}
	var err error
	if cfg.RuncPath, err = lookBinary(cfg.RuncPath, "runc"); err != nil {
		return nil, err
	}
	if cfg.ShimPath, err = lookBinary(cfg.ShimPath, "krill-shim"); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.RuncRoot, cfg.ShimDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("oci: %w", err)
		}
	}
	return &Runtime{
		cfg:  cfg,
		runc: &runc.Runc{Command: cfg.RuncPath, Root: cfg.RuncRoot, SystemdCgroup: cfg.SystemdCgroup},
	}, nil
}

func lookBinary(path, name string) (string, error) {
	if path == "" {
		path = name
	}
	p, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("oci: %s binary %q: %v: %w", name, path, err, errdefs.ErrInvalidArgument)
	}
	return filepath.Abs(p)
}

// IDs become directory and socket names, so they are held to what CRI
// runtimes generate (hex) plus a few readable characters, and a length that
// keeps ShimDir/<id>/console.sock within a unix socket path.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func checkID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("container id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (r *Runtime) shimDir(id string) string { return filepath.Join(r.cfg.ShimDir, id) }

// known tells whether runc has a container id, from its state directory:
// asking `runc state` would cost a whole runc start-up (~25 ms) on every
// create.
func (r *Runtime) known(id string) bool {
	_, err := os.Stat(filepath.Join(r.cfg.RuncRoot, id, "state.json"))
	return err == nil
}

// Start starts a created container's process (`runc start`).
func (r *Runtime) Start(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return runcError("start", id, r.runc.Start(ctx, id))
}

// Kill signals the container's init, or all its processes (`runc kill [--all]`).
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	if err := checkID(id); err != nil {
		return err
	}
	return runcError("kill", id, r.runc.Kill(ctx, id, int(sig), &runc.KillOpts{All: all}))
}

// Update changes a running container's resources (`runc update`).
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	if err := checkID(id); err != nil {
		return err
	}
	if res == nil {
		return fmt.Errorf("update container %s: no resources: %w", id, errdefs.ErrInvalidArgument)
	}
	return runcError("update", id, r.runc.Update(ctx, id, res))
}

// RunDetached runs the pause container: `runc run --detach` with stdio on
// /dev/null and no shim, because the pause process never writes anything and
// its exit status is of no interest. Its pid is returned; runc's errors are
// read from ShimDir/<id>/runc.log.
func (r *Runtime) RunDetached(ctx context.Context, id, bundle string) (int, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	if r.known(id) {
		return 0, fmt.Errorf("run container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	// A stale exit file from an earlier container with this id would make
	// the new one look exited.
	dir := r.shimDir(id)
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("run container %s: %w", id, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("run container %s: %w", id, err)
	}
	nullIO, err := runc.NewNullIO()
	if err != nil {
		return 0, fmt.Errorf("run container %s: %w", id, err)
	}
	defer nullIO.Close()
	rr := *r.runc
	rr.Log = filepath.Join(dir, "runc.log")
	rr.LogFormat = runc.JSON
	pidFile := filepath.Join(dir, "init.pid")
	if _, err := rr.Run(ctx, id, bundle, &runc.CreateOpts{IO: nullIO, Detach: true, PidFile: pidFile}); err != nil {
		if msg := runcLogErrors(rr.Log); msg != "" {
			err = errors.New(msg)
		}
		r.runc.Delete(context.WithoutCancel(ctx), id, &runc.DeleteOpts{Force: true})
		os.RemoveAll(dir)
		return 0, runcError("run", id, err)
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("run container %s: %w", id, err)
	}
	return pid, nil
}

// Delete removes the container from runc (killing it if it still runs;
// not again once Release did), stops its shim and removes its shim
// directory. Deleting an unknown container is not an error.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if !r.released(id) {
		if err := runcError("delete", id, r.runc.Delete(ctx, id, &runc.DeleteOpts{Force: true})); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	r.stopShim(ctx, id)
	if err := os.RemoveAll(r.shimDir(id)); err != nil {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// runcError wraps a runc failure with the errdefs class its message implies.
// runc only reports failures as text, so the text is matched.
func runcError(op, id string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s container %s: %w", op, id, err)
	}
	msg := runcMessage(err.Error())
	var class error
	switch {
	case strings.Contains(msg, "container does not exist"):
		class = errdefs.ErrNotFound
	case strings.Contains(msg, "not running"),
		strings.Contains(msg, "already finished"),
		strings.Contains(msg, "has stopped"),
		strings.Contains(msg, "stopped container"),
		strings.Contains(msg, "already running"),
		strings.Contains(msg, "is paused"):
		class = errdefs.ErrFailedPrecondition
	case strings.Contains(msg, "already exists"), strings.Contains(msg, "already in use"):
		class = errdefs.ErrAlreadyExists
	case strings.Contains(msg, "unable to start container process"):
		// runc could not run the process as configured (no such command,
		// not executable, bad working directory or user), at create or exec.
		class = errdefs.ErrFailedPrecondition
	case strings.HasPrefix(msg, "open container log:"):
		// The shim refused the request's log path (a symlink or a
		// non-regular file below the pod's log directory).
		class = errdefs.ErrInvalidArgument
	default:
		class = errdefs.ErrUnknown
	}
	return fmt.Errorf("%s container %s: %s: %w", op, id, msg, class)
}

// runcLogMsg finds the messages in runc's text-format log lines.
var runcLogMsg = regexp.MustCompile(`level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"`)

// runcMessage reduces go-runc's error text ("runc did not terminate
// successfully: exit status 1: time=... level=error msg=...") to what runc
// said.
func runcMessage(s string) string {
	var msgs []string
	for _, m := range runcLogMsg.FindAllStringSubmatch(s, -1) {
		if u, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
			msgs = append(msgs, u)
		} else {
			msgs = append(msgs, m[1])
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	return strings.TrimSpace(s)
}
