package container

import (
	"sync/atomic"
)

// oomWatch tells whether the kernel OOM-killed a process of a container while
// it ran. Reading the cgroup's counters after the exit is not enough under
// the systemd cgroup driver: systemd removes an empty scope's cgroup (and its
// memory.events) as soon as the last process is gone, usually before the
// exit reaches krilld. So the cgroup is watched from before the container
// starts (cgroups.WatchOOM: memory.events on v2, the OOM eventfd on v1), as
// containerd's shim does.
type oomWatch struct {
	stop func()
	done chan struct{}
	seen atomic.Bool
}

// watchOOM starts watching cgroup path. A cgroup that cannot be watched
// (gone already, or a fake tree) gives a watch that reports nothing; the
// post-exit read in recordExit still applies.
func (m *Manager) watchOOM(id, path string) *oomWatch {
	w := &oomWatch{done: make(chan struct{})}
	ch, stop, err := m.cfg.Cgroups.WatchOOM(path)
	if err != nil {
		m.cfg.Log.Debug("no OOM watch", "container", id, "err", err)
		close(w.done)
		return w
	}
	w.stop = stop
	go func() {
		defer close(w.done)
		for range ch {
			w.seen.Store(true)
		}
	}()
	return w
}

// end stops the watch and reports whether an OOM kill was seen. nil is a
// watch that saw nothing.
func (w *oomWatch) end() bool {
	if w == nil {
		return false
	}
	if w.stop != nil {
		w.stop()
	}
	<-w.done
	return w.seen.Load()
}
