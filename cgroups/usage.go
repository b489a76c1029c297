package cgroups

import (
	"sync"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// samples keeps the previous sample per cgroup path: nano-cores are a
// rate, so two samples are needed. Containers and pods share it (their
// paths differ).
var samples sync.Map // cgroup path -> *Stats

// CRIUsage converts one sample of cgroup path into CRI CPU and memory
// usage, using the previous sample of the same cgroup for the CPU rate.
func CRIUsage(path string, s *Stats) (*runtime.CpuUsage, *runtime.MemoryUsage) {
	var prev *Stats
	if p, ok := samples.Load(path); ok {
		prev = p.(*Stats)
	}
	samples.Store(path, s)
	return ToCRICPU(s, prev), ToCRIMemory(s)
}

// ForgetUsage drops the sample of a removed cgroup.
func ForgetUsage(path string) { samples.Delete(path) }
