package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// CreateNetNS creates a new network namespace for the pod and pins it by
// bind-mounting it onto NetnsDir/<podID>, the way `ip netns add` does. The
// file keeps the namespace alive without any process in it, so the CNI
// plugins can configure it before the pause container starts and runc can
// join it by path.
func (m *Manager) CreateNetNS(podID string) (string, error) {
	if err := validPodID(podID); err != nil {
		return "", err
	}
	if err := m.prepareNetnsDir(); err != nil {
		return "", err
	}
	path := filepath.Join(m.cfg.NetnsDir, podID)

	// A file without a namespace mounted on it is left over from a crash
	// between creating and mounting: reuse the name.
	if _, err := os.Lstat(path); err == nil {
		if isNetNS(path) {
			return "", fmt.Errorf("netns for pod %s: %w", podID, errdefs.ErrAlreadyExists)
		}
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("netns for pod %s: remove stale %s: %w", podID, path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("netns for pod %s: %w", podID, errdefs.ErrAlreadyExists)
		}
		return "", fmt.Errorf("netns for pod %s: create mount point: %w", podID, err)
	}
	f.Close()

	if err := newNetNSAt(path); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("netns for pod %s: %w", podID, err)
	}
	return path, nil
}

// newNetNSAt unshares a network namespace on a dedicated OS thread and
// bind-mounts it onto path (see onLostThread).
func newNetNSAt(path string) error {
	return onLostThread(func() error { return unshareAndMount(path) })
}

// inNetNS runs fn on a dedicated OS thread that has joined the network
// namespace at path (see onLostThread): netlink sockets and /proc/sys/net
// files fn opens are that namespace's.
func inNetNS(path string, fn func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	return onLostThread(func() error {
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return fn()
	})
}

// onLostThread runs fn on a locked OS thread that is never handed back to
// the Go scheduler: fn may move it into another namespace, and a goroutine
// that exits while still locked takes its thread down with it. That is
// simpler and safer than switching the thread back.
//
// The one thread Go cannot take down is the main one (it is wedged
// instead, and /proc/self/ns/net would then name the pod's namespace for
// the rest of the daemon's life), so fn never runs there.
func onLostThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// On the main thread: while it stays locked here, the inner
			// goroutine is certain to get another thread.
			inner := make(chan error, 1)
			go func() {
				goruntime.LockOSThread()
				inner <- fn()
			}()
			err := <-inner
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		errc <- fn() // no UnlockOSThread: see above
	}()
	return <-errc
}

// unshareAndMount moves the calling thread into a new network namespace
// and pins it on path. The caller's thread must be locked and is lost.
func unshareAndMount(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %w", src, path, err)
	}
	return nil
}

// loopbackUp brings up lo in the calling thread's network namespace, so
// that containers of a pod reach each other on 127.0.0.1 whatever the CNI
// configuration holds. Two ioctls here instead of a loopback plugin saves
// a plugin process on every ADD and DEL.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: read flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}

// prepareNetnsDir creates NetnsDir and makes it a shared mount point, like
// `ip netns` does with /run/netns: the per-pod bind mounts then propagate to
// mount namespaces created later (and so do their unmounts), instead of
// staying pinned in copies of the mount table.
func (m *Manager) prepareNetnsDir() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.netnsDirSet {
		return nil
	}
	dir := m.cfg.NetnsDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create netns dir %s: %w", dir, err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: make it one by binding it onto itself.
		if err = unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make netns dir %s a shared mount: %w", dir, err)
	}
	m.netnsDirSet = true
	return nil
}

// RemoveNetNS unmounts and removes a pod's netns file. The namespace itself
// goes away when nothing else (a process, another mount) holds it. Removing
// a missing file is not an error. Only files directly in NetnsDir are
// accepted, so a bad record cannot make Krill unmount anything else.
func (m *Manager) RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	clean := filepath.Clean(path)
	if filepath.Dir(clean) != m.cfg.NetnsDir || validPodID(filepath.Base(clean)) != nil {
		return fmt.Errorf("netns path %q is not in %s: %w", path, m.cfg.NetnsDir, errdefs.ErrInvalidArgument)
	}
	// MNT_DETACH: a plugin or a runc still holding the file must not make
	// pod removal fail; the namespace is freed once they let go.
	if err := unix.Unmount(clean, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", clean, err)
	}
	if err := os.Remove(clean); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", clean, err)
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// validPodID accepts what libcni accepts as a container ID (letters, digits,
// '_', '.', '-', not starting with a symbol): the ID becomes a file name
// under NetnsDir and a key of the CNI cache, so it must be a plain path
// element.
func validPodID(id string) error {
	ok := id != "" && len(id) <= 255
	for i, c := range id {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			ok = false
			break
		}
	}
	if !ok {
		return fmt.Errorf("pod id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}
