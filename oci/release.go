package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// fileReleased marks, in ShimDir/<id>/, a container its runtime has
// already forgotten (Release), so Delete need not start the runtime again
// to hear "does not exist". It lives in the shim directory, which stays
// until Delete, so it survives a krilld restart; if it is lost, Delete only
// pays the runtime start-up it would have paid anyway.
const fileReleased = "released"

// Release has the runtime forget a container whose init has exited
// (`runc delete` without --force), as containerd deletes a task as soon as
// it exits: the runtime's state and the container's cgroup go then, so
// that removing the container later is only files and mounts. The shim
// directory (exit file, logs) stays for Wait and Delete. A container the
// runtime still sees running is left alone (runc refuses) for Delete,
// which forces; so is one the runtime never knew.
func (r *Runtime) Release(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	dir := r.shimDir(id)
	if _, err := os.Stat(dir); err != nil {
		// Deleted meanwhile (RemoveContainer won the race): nothing to mark.
		return nil
	}
	err := runcError("delete", id, r.runc.Delete(ctx, id, &runc.DeleteOpts{}))
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, fileReleased), nil, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// released tells whether Release has already had the runtime forget id.
func (r *Runtime) released(id string) bool {
	_, err := os.Stat(filepath.Join(r.shimDir(id), fileReleased))
	return err == nil
}
