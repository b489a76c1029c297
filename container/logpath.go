package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
)

// containerLogPath joins the pod's log directory and the container's log
// path. The directory is the kubelet's (/var/log/pods/<pod>) and must be
// absolute; the log path comes from the container spec and must stay below
// it: "../x" or an absolute path would let a pod spec make the shim, as
// root, create and append to any file on the host. The kubelet always
// sends "<container>/<restart>.log". The shim then opens the file without
// following symlinks below the directory (cmd/krill-shim/log.go). No
// directory or no path means no log, as in containerd.
func containerLogPath(dir, path string) (string, error) {
	if dir == "" || path == "" {
		return "", nil
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("pod log_directory %q is not absolute: %w", dir, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsLocal(path) {
		return "", fmt.Errorf("container log_path %q must be relative and stay inside the pod's log directory: %w", path, errdefs.ErrInvalidArgument)
	}
	// The directory itself is the kubelet's to make; critest and crictl
	// users rely on the runtime making it, as containerd does.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pod log directory: %w", err)
	}
	if err := refuseLinks(dir, path); err != nil {
		return "", err
	}
	return filepath.Join(dir, path), nil
}

// refuseLinks fails, at CreateContainer, a log path that already runs
// through a symlink or names something other than a regular file below
// dir, so the mistake is reported where it was made. It is no defence
// against a link planted later: the shim opens the file at StartContainer
// without following links (cmd/krill-shim/log.go), and that is what keeps
// the host safe.
func refuseLinks(dir, path string) error {
	cur := dir
	parts := strings.Split(filepath.Clean(path), string(filepath.Separator))
	for i, part := range parts {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("container log_path %q: %w", path, err)
		}
		last := i == len(parts)-1
		if fi.Mode()&os.ModeSymlink != 0 || (last && !fi.Mode().IsRegular()) || (!last && !fi.IsDir()) {
			return fmt.Errorf("container log_path %q: %s is a symlink or not a regular file or directory: %w", path, cur, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
