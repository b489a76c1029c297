package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// Stats returns a container's CPU, memory, process and writable-layer
// usage, read from its cgroup and its snapshot. A container that is not
// running has only its attributes and writable layer, and no error.
func (m *Manager) Stats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return nil, err
	}
	return m.stats(ctx, c), nil
}

func (m *Manager) stats(ctx context.Context, c store.Container) *runtime.ContainerStats {
	st := &runtime.ContainerStats{Attributes: &runtime.ContainerAttributes{
		Id:          c.ID,
		Metadata:    c.Config.GetMetadata(),
		Labels:      c.Config.GetLabels(),
		Annotations: c.Config.GetAnnotations(),
	}}
	// Only a running container uses CPU and memory. An exited one's cgroup
	// lingers until Remove with its last counters, which would read as
	// memory still held; containerd reports no usage for it (its task is
	// gone) and CRI-O leaves it out of the list.
	if c.State == runtime.ContainerState_CONTAINER_RUNNING {
		if s, err := m.cfg.Cgroups.Stats(c.CgroupsPath); err == nil {
			st.Cpu, st.Memory = cgroups.CRIUsage(c.CgroupsPath, s)
			st.Swap = &runtime.SwapUsage{Timestamp: s.Timestamp.UnixNano(), SwapUsageBytes: &runtime.UInt64Value{Value: s.MemorySwap}}
		}
	}
	if used, inodes, err := m.cfg.Images.RootfsUsage(ctx, c.ID); err == nil {
		ts := st.GetCpu().GetTimestamp()
		if ts == 0 { // not running: no cgroup sample
			ts = time.Now().UnixNano()
		}
		st.WritableLayer = &runtime.FilesystemUsage{
			Timestamp:  ts,
			FsId:       &runtime.FilesystemIdentifier{Mountpoint: c.Bundle + "/rootfs"},
			UsedBytes:  &runtime.UInt64Value{Value: used},
			InodesUsed: &runtime.UInt64Value{Value: inodes},
		}
	}
	return st
}

// ListStats returns stats of the containers matching f.
func (m *Manager) ListStats(ctx context.Context, f *runtime.ContainerStatsFilter) []*runtime.ContainerStats {
	var out []*runtime.ContainerStats
	for _, c := range m.cfg.Containers.List() {
		if f != nil && (!store.MatchID(c.ID, f.Id) || !store.MatchID(c.PodID, f.PodSandboxId) ||
			!store.MatchLabels(c.Config.GetLabels(), f.LabelSelector)) {
			continue
		}
		out = append(out, m.stats(ctx, c))
	}
	return out
}

// Metrics returns the cAdvisor-style metrics of a pod's containers: the
// cgroup counters, processes and descriptors, block I/O, the writable
// layer and its filesystem, and the start time. A container whose cgroup
// is gone (exited) has none. Network counters are the pod's
// (sandbox.Manager.ListMetrics): all its containers share one network
// namespace. An unknown pod has none.
func (m *Manager) Metrics(ctx context.Context, podID string) []*runtime.ContainerMetrics {
	pod, err := m.cfg.Sandboxes.Get(podID)
	if err != nil {
		return nil
	}
	var out []*runtime.ContainerMetrics
	md := pod.Config.GetMetadata()
	for _, c := range m.podContainers(pod.ID) {
		s, err := m.cfg.Cgroups.Stats(c.CgroupsPath)
		if err != nil {
			continue
		}
		l := cgroups.MetricLabels{
			Pod: md.GetName(), Namespace: md.GetNamespace(), Container: c.Config.GetMetadata().GetName(),
			ID: c.ID, Image: c.ImageName,
		}
		ms := cgroups.Metrics(s, l, cgroups.ToOCI(c.Resources, m.cfg.DaemonOOMScoreAdj))
		// The readers below fail only when the cgroup vanished meanwhile or
		// a controller is missing: report what could be read.
		if p, err := m.cfg.Cgroups.ProcessCounts(c.CgroupsPath); err == nil {
			ms = append(ms, cgroups.ProcessMetrics(p, l, s.Timestamp)...)
		}
		if devs, err := m.cfg.Cgroups.Blkio(c.CgroupsPath); err == nil {
			ms = append(ms, cgroups.BlkioMetrics(devs, l, s.Timestamp)...)
		}
		if used, _, err := m.cfg.Images.RootfsUsage(ctx, c.ID); err == nil {
			fu := cgroups.FsUsage{UsageBytes: used}
			if fs, ok := rootfsFilesystem(filepath.Join(c.Bundle, "rootfs")); ok {
				fu.Device, fu.LimitBytes, fu.InodesTotal, fu.InodesFree = fs.device, fs.size, fs.inodes, fs.inodesFree
			}
			ms = append(ms, cgroups.FsMetrics(fu, l, s.Timestamp)...)
		}
		if c.StartedAt > 0 {
			ms = append(ms, cgroups.StartTimeMetric(time.Unix(0, c.StartedAt), l, s.Timestamp)...)
		}
		out = append(out, &runtime.ContainerMetrics{ContainerId: c.ID, Metrics: ms})
	}
	return out
}

// filesystem is what container_fs_* report about the filesystem holding a
// writable layer.
type filesystem struct {
	device                   string
	size, inodes, inodesFree uint64
}

// rootfsFilesystem finds the filesystem that stores the writes to the
// rootfs mounted at rootfs: for an overlay mount the one holding its
// upperdir, named by its mount source as cAdvisor names devices
// (e.g. /dev/vda1). ok is false when rootfs is not mounted (a stopped
// container): statfs would describe the state directory instead.
func rootfsFilesystem(rootfs string) (fs filesystem, ok bool) {
	mounts, err := readMountInfo("/proc/self/mountinfo")
	if err != nil {
		return fs, false
	}
	var mnt *mountEntry
	for i := range mounts {
		if mounts[i].mountpoint == rootfs {
			mnt = &mounts[i] // the last one is on top
		}
	}
	if mnt == nil {
		return fs, false
	}
	target, source := rootfs, mnt.source
	if mnt.fstype == "overlay" {
		upper := mnt.superOption("upperdir")
		var st unix.Stat_t
		if upper == "" || unix.Stat(upper, &st) != nil {
			return fs, false
		}
		target, source = upper, fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
		for _, e := range mounts {
			if e.dev == source {
				source = e.source
				break
			}
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(target, &sfs); err != nil {
		return fs, false
	}
	return filesystem{
		device:     source,
		size:       sfs.Blocks * uint64(sfs.Bsize),
		inodes:     sfs.Files,
		inodesFree: sfs.Ffree,
	}, true
}

// mountEntry is one line of /proc/<pid>/mountinfo.
type mountEntry struct {
	dev, mountpoint, fstype, source, superOpts string
}

func (e mountEntry) superOption(key string) string {
	for _, o := range strings.Split(e.superOpts, ",") {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

// readMountInfo parses mountinfo: "id parent major:minor root mountpoint
// options [optional fields...] - fstype source super-options".
func readMountInfo(file string) ([]mountEntry, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		a, p := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(p) < 3 {
			continue
		}
		out = append(out, mountEntry{dev: a[2], mountpoint: unescapeMountinfo(a[4]), fstype: p[0], source: unescapeMountinfo(p[1]), superOpts: p[2]})
	}
	return out, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
