package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// WatchOOM watches cgroup path for OOM kills so the container manager can
// record "OOMKilled" as soon as it happens rather than only when it next
// looks. The channel receives a value (coalesced: at most one pending) for
// OOM events after the watch starts, and is closed when the cgroup is removed
// or stop is called. Always call stop (idempotent; it waits for the watcher
// to end): on v2 the kernel may report a removal only through the next
// event.
//
//   - v1 (and hybrid): an eventfd registered through cgroup.event_control
//     on memory.oom_control. The kernel signals it when the cgroup hits OOM
//     (just before the killer picks a victim, so the oom_kill counter may not
//     have moved yet; like containerd, every such event is reported) and also
//     when the cgroup is removed, which is told apart by the cgroup being
//     gone.
//   - v2: inotify on memory.events, which changes for every memory event
//     (high, max, oom...); a value is sent only when oom_kill grew.
func (m *Manager) WatchOOM(path string) (<-chan struct{}, func(), error) {
	rel, err := cleanPath(path)
	if err != nil {
		return nil, nil, err
	}
	if m.mode == ModeV2 {
		return m.watchV2(rel)
	}
	return m.watchV1(rel)
}

func (m *Manager) watchV1(rel string) (<-chan struct{}, func(), error) {
	dir := m.v1Dir("memory", rel)
	control, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: %w", rel, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: %w", rel, err)
	}
	defer control.Close() // the kernel keeps its own reference once registered

	// Non-blocking so the Go poller owns it and Close interrupts a Read.
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: eventfd: %w", rel, err)
	}
	events := os.NewFile(uintptr(efd), "oom-eventfd")
	reg := fmt.Sprintf("%d %d", efd, control.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		events.Close()
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: register eventfd: %w", rel, err)
	}

	return startWatch(events, func(ch chan<- struct{}) {
		buf := make([]byte, 8)
		for {
			if _, err := events.Read(buf); err != nil {
				return // stop closed the eventfd
			}
			if !exists(filepath.Join(dir, "memory.oom_control")) {
				return // the event announced the cgroup's removal
			}
			notify(ch)
		}
	})
}

func (m *Manager) watchV2(rel string) (<-chan struct{}, func(), error) {
	file := filepath.Join(m.v2root, rel, "memory.events")
	last, err := m.oomKills(rel)
	if err != nil {
		return nil, nil, fmt.Errorf("watch OOM: %w", err)
	}
	// memory.events of the parent counts the OOM kills of its descendants
	// too (cgroup v2 is hierarchical unless mounted memory_localevents).
	// systemd removes a container's scope as soon as its last process is
	// gone, which after an OOM kill can be before the watch read the
	// scope's own counter: then the parent's counter tells.
	parent := filepath.Dir(rel)
	lastParent, perr := m.oomKills(parent)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: inotify: %w", rel, err)
	}
	events := os.NewFile(uintptr(fd), "oom-inotify")
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY|unix.IN_DELETE_SELF); err != nil {
		events.Close()
		return nil, nil, fmt.Errorf("watch OOM of cgroup %s: inotify %s: %w", rel, file, err)
	}
	// check reports a grown oom_kill counter, the scope's own or, once the
	// scope is gone, its parent's. A writer caught mid-update reads as 0
	// and is ignored.
	check := func(ch chan<- struct{}) (gone bool) {
		n, err := m.oomKills(rel)
		if err == nil {
			if n > last {
				last = n
				notify(ch)
			}
			return false
		}
		if pn, err := m.oomKills(parent); perr == nil && err == nil && pn > lastParent {
			notify(ch)
		}
		return true
	}

	return startWatch(events, func(ch chan<- struct{}) {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := events.Read(buf)
			if err != nil {
				return
			}
			removed := false
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				mask := binary.NativeEndian.Uint32(buf[off+int(unsafe.Offsetof(unix.InotifyEvent{}.Mask)):])
				nameLen := binary.NativeEndian.Uint32(buf[off+int(unsafe.Offsetof(unix.InotifyEvent{}.Len)):])
				off += unix.SizeofInotifyEvent + int(nameLen)
				if mask&(unix.IN_DELETE_SELF|unix.IN_IGNORED) != 0 {
					removed = true // memory.events went away with its cgroup
				}
			}
			// Several events may be summed up by one read, a removal
			// among them: the counter is read (or the parent's) first.
			if check(ch) || removed {
				return
			}
		}
	})
}

// startWatch runs loop in a goroutine and returns its channel and the stop
// function that closes f (ending loop's blocked Read) and waits for it.
func startWatch(f *os.File, loop func(chan<- struct{})) (<-chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer f.Close() // a watch that ended by itself holds no fd until stop
		loop(ch)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			f.Close()
			<-done
		})
	}
	return ch, stop, nil
}

// notify sends without blocking: one pending event says enough.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
