package image

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultUsageRefresh is how often the image store's disk usage is
// measured in the background (Config.UsageRefresh). kubelet asks
// ImageFsInfo every few seconds and a measure walks every file of every
// layer and writable layer, so calls answer from the last measure instead;
// containerd likewise collects snapshot usage every 10 s
// (stats_collect_period).
const DefaultUsageRefresh = 10 * time.Second

// usageCache holds the last measure of the image store.
type usageCache struct {
	walk sync.Mutex // one walk at a time: concurrent first calls walk once

	mu     sync.Mutex // guards the values; never held during a walk
	ok     bool
	bytes  uint64
	inodes uint64

	kick    chan struct{} // a pull or image removal changed the store: measure soon
	stop    chan struct{}
	stopped sync.WaitGroup
}

// changed asks the background loop for a new measure without waiting
// for it; kicks while one is pending merge into it.
func (u *usageCache) changed() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (u *usageCache) get() (bytes, inodes uint64, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.bytes, u.inodes, u.ok
}

func (u *usageCache) set(bytes, inodes uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.bytes, u.inodes, u.ok = bytes, inodes, true
}

// FsInfo reports the disk usage of the whole image store as last measured
// (at most Config.UsageRefresh old; the first call measures): the
// mountpoint is the snapshots directory, where kubelet's image GC
// thresholds apply.
func (s *Service) FsInfo(ctx context.Context) (mountpoint string, usedBytes, inodesUsed uint64, err error) {
	mountpoint = filepath.Join(s.cfg.Root, "snapshots")
	if b, n, ok := s.usage.get(); ok {
		return mountpoint, b, n, nil
	}
	if err := s.measureUsage(ctx, true); err != nil {
		return "", 0, 0, err
	}
	b, n, _ := s.usage.get()
	return mountpoint, b, n, nil
}

// CachedUsage returns the last measure without ever walking (for metrics
// scrapes); ok is false before the first one.
func (s *Service) CachedUsage() (bytes uint64, ok bool) {
	b, _, ok := s.usage.get()
	return b, ok
}

// measureUsage walks the store and keeps the result; with onlyFirst it
// does nothing when a measure exists (a concurrent caller made it while
// this one waited for the walk lock).
func (s *Service) measureUsage(ctx context.Context, onlyFirst bool) error {
	s.usage.walk.Lock()
	defer s.usage.walk.Unlock()
	if _, _, ok := s.usage.get(); ok && onlyFirst {
		return nil
	}
	b, n, err := s.walkUsage(ctx)
	if err != nil {
		return err
	}
	s.usage.set(b, n)
	return nil
}

// refreshUsage measures the store at once, then every interval and after
// each pull or image removal, until Close. The background garbage
// collection that follows every container and pod removal asks for no
// measure: under pod churn that was a walk of every file of every layer
// per removal, twice per pod lifecycle (~0.6 s of CPU for a 4 GB, 72k-file
// tree here), for a figure kubelet reads every 10 s; the interval's
// measure sees what it freed, as containerd's 10 s usage collection does.
func (s *Service) refreshUsage(interval time.Duration) {
	defer s.usage.stopped.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for first := true; ; first = false {
		if err := s.measureUsage(context.Background(), first); err != nil {
			s.log.Warn("measure image store usage", "err", err)
		}
		select {
		case <-s.usage.stop:
			return
		case <-t.C:
		case <-s.usage.kick:
		}
	}
}

// walkUsage measures the whole image store (blobs, layers, writable
// layers, database) by walking it: the only exact answer, and too slow to
// run on every kubelet call with many containers.
func (s *Service) walkUsage(ctx context.Context) (usedBytes, inodesUsed uint64, err error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	err = filepath.WalkDir(s.cfg.Root, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			if os.IsNotExist(werr) {
				return nil // removed while walking
			}
			return werr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		k := inode{uint64(st.Dev), st.Ino}
		if seen[k] {
			return nil // hard links count once
		}
		seen[k] = true
		usedBytes += uint64(st.Blocks) * 512
		inodesUsed++
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("image store usage: %w", err)
	}
	return usedBytes, inodesUsed, nil
}
