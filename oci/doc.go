// Package oci runs containers with runc and talks to krill-shim, the small
// per-container process that owns a container's stdio, CRI log, attach
// socket, reaping and exit file (see cmd/krill-shim/doc.go for its protocol).
//
// It owns:
//   - runc invocations (through github.com/containerd/go-runc, `--root Config.RuncRoot`),
//     one Runtime per RuntimeClass handler (Handlers), each probed for its
//     features (`<binary> features`);
//   - state/shims/<id>/: the shim's directory (shim.pid, init.pid, exit,
//     runc.log, shim.log, ctl.sock, attach.sock); the pause container gets
//     one too, for runc.log and init.pid, but no shim;
//   - recovering container exits after a krilld restart: every answer comes
//     from the shim's sockets or files on disk, never from memory, so a new
//     Runtime over the same directories sees the same containers.
//
// It must never know CRI types (that is container/ and cri/), decide a
// container's lifecycle on its own (it does what it is asked), or keep a
// pipe between krilld and a shim open after Create: shims and containers
// must survive krilld being killed.
//
// Errors wrap github.com/containerd/errdefs sentinels and carry runc's own
// error text: unknown container -> ErrNotFound, container not running ->
// ErrFailedPrecondition, a process runc cannot start (command, working
// directory, user) -> ErrFailedPrecondition, bad id -> ErrInvalidArgument,
// anything else from runc -> ErrUnknown (gRPC Internal).
package oci
