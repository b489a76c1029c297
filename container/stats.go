package container

import (
	"context"
	"sync"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// samples keeps the previous CPU sample per cgroup path: nano-cores are a
// rate, so two samples are needed.
var samples sync.Map // cgroup path -> *cgroups.Stats

// Stats returns a container's CPU, memory, process and writable-layer
// usage, read from its cgroup and its snapshot.
func (m *Manager) Stats(ctx context.Context, id string) (*runtime.ContainerStats, error) {
	c, err := m.Containers.Get(id)
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
	if s, err := m.Cgroups.Stats(c.CgroupsPath); err == nil {
		st.Cpu, st.Memory = CgroupStats(c.CgroupsPath, s)
		st.Swap = &runtime.SwapUsage{Timestamp: s.Timestamp.UnixNano(), SwapUsageBytes: &runtime.UInt64Value{Value: s.MemorySwap}}
	}
	if used, inodes, err := m.Images.RootfsUsage(ctx, c.ID); err == nil {
		st.WritableLayer = &runtime.FilesystemUsage{
			Timestamp:  st.GetCpu().GetTimestamp(),
			FsId:       &runtime.FilesystemIdentifier{Mountpoint: c.Bundle + "/rootfs"},
			UsedBytes:  &runtime.UInt64Value{Value: used},
			InodesUsed: &runtime.UInt64Value{Value: inodes},
		}
	}
	return st
}

// CgroupStats converts one sample into CRI CPU and memory usage, using the
// previous sample of the same cgroup for the CPU rate.
func CgroupStats(path string, s *cgroups.Stats) (*runtime.CpuUsage, *runtime.MemoryUsage) {
	var prev *cgroups.Stats
	if p, ok := samples.Load(path); ok {
		prev = p.(*cgroups.Stats)
	}
	samples.Store(path, s)
	return cgroups.ToCRICPU(s, prev), cgroups.ToCRIMemory(s)
}

// ListStats returns stats of the containers matching f.
func (m *Manager) ListStats(ctx context.Context, f *runtime.ContainerStatsFilter) []*runtime.ContainerStats {
	var out []*runtime.ContainerStats
	for _, c := range m.Containers.List() {
		if f != nil && (!store.MatchID(c.ID, f.Id) || !store.MatchID(c.PodID, f.PodSandboxId) ||
			!store.MatchLabels(c.Config.GetLabels(), f.LabelSelector)) {
			continue
		}
		out = append(out, m.stats(ctx, c))
	}
	return out
}

// forget drops the CPU sample of a removed container.
func forgetSample(path string) { samples.Delete(path) }

// Metrics returns the cAdvisor-style metrics of a pod's containers.
func (m *Manager) Metrics(pod store.Pod) []*runtime.ContainerMetrics {
	var out []*runtime.ContainerMetrics
	md := pod.Config.GetMetadata()
	for _, c := range m.podContainers(pod.ID) {
		s, err := m.Cgroups.Stats(c.CgroupsPath)
		if err != nil {
			continue
		}
		out = append(out, &runtime.ContainerMetrics{
			ContainerId: c.ID,
			Metrics: cgroups.Metrics(s, cgroups.MetricLabels{
				Pod: md.GetName(), Namespace: md.GetNamespace(), Container: c.Config.GetMetadata().GetName(),
				ID: c.ID, Image: c.ImageName,
			}, cgroups.ToOCI(c.Resources, m.DaemonOOMScoreAdj)),
		})
	}
	return out
}
