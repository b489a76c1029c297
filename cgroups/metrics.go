package cgroups

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ToCRICPU builds the CRI CPU stats of s. UsageNanoCores is the average
// usage between prev and s; it is left nil without a usable earlier sample
// (no prev, prev not older, or a counter that went backwards because the
// cgroup was recreated), which makes kubelet compute it from its own cache.
func ToCRICPU(s, prev *Stats) *runtime.CpuUsage {
	if s == nil {
		return nil
	}
	u := &runtime.CpuUsage{
		Timestamp:            s.Timestamp.UnixNano(),
		UsageCoreNanoSeconds: &runtime.UInt64Value{Value: s.CPUUsageNanos},
	}
	if prev != nil && s.Timestamp.After(prev.Timestamp) && s.CPUUsageNanos >= prev.CPUUsageNanos {
		elapsed := uint64(s.Timestamp.Sub(prev.Timestamp).Nanoseconds())
		used := s.CPUUsageNanos - prev.CPUUsageNanos
		// nano cores = CPU-ns used per wall ns, scaled by 1e9; float keeps
		// used*1e9 from overflowing after long intervals.
		u.UsageNanoCores = &runtime.UInt64Value{Value: uint64(float64(used) / float64(elapsed) * 1e9)}
	}
	return u
}

// ToCRIMemory builds the CRI memory stats of s. AvailableBytes is set only
// for a limited cgroup, as kubelet expects.
func ToCRIMemory(s *Stats) *runtime.MemoryUsage {
	if s == nil {
		return nil
	}
	u := &runtime.MemoryUsage{
		Timestamp:       s.Timestamp.UnixNano(),
		WorkingSetBytes: &runtime.UInt64Value{Value: s.MemoryWorkingSet},
		UsageBytes:      &runtime.UInt64Value{Value: s.MemoryUsage},
		RssBytes:        &runtime.UInt64Value{Value: s.MemoryRSS},
		PageFaults:      &runtime.UInt64Value{Value: s.PageFaults},
		MajorPageFaults: &runtime.UInt64Value{Value: s.MajorPageFaults},
	}
	if s.MemoryLimit > 0 {
		var avail uint64
		if s.MemoryLimit > s.MemoryWorkingSet {
			avail = s.MemoryLimit - s.MemoryWorkingSet
		}
		u.AvailableBytes = &runtime.UInt64Value{Value: avail}
	}
	return u
}

// MetricLabels are the label values of one container's metrics, in the
// order of metricLabelKeys. For pod-level metrics Container and Image are
// empty and ID is the pod's.
type MetricLabels struct {
	Pod, Namespace, Container, ID, Image string
}

// metricLabelKeys are cAdvisor's (and containerd's) label names; kubelet
// turns each CRI metric into a Prometheus sample with these labels.
var metricLabelKeys = []string{"pod", "namespace", "container", "id", "image"}

// failureLabelKeys extends them for container_memory_failures_total.
var failureLabelKeys = append(append([]string(nil), metricLabelKeys...), "failure_type", "scope")

type metricDef struct {
	name, help string
	typ        runtime.MetricType
	labelKeys  []string
}

// The metrics Krill produces, named as cAdvisor names them so dashboards and
// alerts written for /metrics/cadvisor keep working when kubelet gets them
// from the runtime (PodAndContainerStatsFromCRI). kubelet drops any metric
// whose name was not listed by ListMetricDescriptors. CRI values are uint64,
// so *_seconds_total are whole seconds, as in containerd.
var metricDefs = []metricDef{
	{"container_cpu_usage_seconds_total", "Cumulative CPU time consumed in seconds.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_cpu_user_seconds_total", "Cumulative user CPU time consumed in seconds.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_cpu_system_seconds_total", "Cumulative system CPU time consumed in seconds.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_working_set_bytes", "Current working set in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_rss", "Size of RSS in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_cache", "Number of bytes of page cache memory.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_mapped_file", "Size of memory mapped files in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_swap", "Container swap usage in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_failcnt", "Number of memory usage hits limits (cgroup v1 only).", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_memory_total_active_file_bytes", "Active file cache in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_total_inactive_file_bytes", "Inactive file cache in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_memory_failures_total", "Cumulative count of memory allocation failures.", runtime.MetricType_COUNTER, failureLabelKeys},
	{"container_oom_events_total", "Count of out of memory events observed for the container.", runtime.MetricType_COUNTER, metricLabelKeys},
	{"container_threads", "Number of threads running inside the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_last_seen", "Last time a container was seen by the exporter.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_cpu_period", "CPU period of the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_cpu_quota", "CPU quota of the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_cpu_shares", "CPU share of the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_memory_limit_bytes", "Memory limit for the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", runtime.MetricType_GAUGE, metricLabelKeys},
}

var metricTypes = func() map[string]runtime.MetricType {
	types := make(map[string]runtime.MetricType, len(metricDefs))
	for _, d := range metricDefs {
		types[d.name] = d.typ
	}
	return types
}()

// MetricDescriptors lists every metric Metrics can return, for
// ListMetricDescriptors.
func MetricDescriptors() []*runtime.MetricDescriptor {
	out := make([]*runtime.MetricDescriptor, 0, len(metricDefs))
	for _, d := range metricDefs {
		out = append(out, &runtime.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: append([]string(nil), d.labelKeys...)})
	}
	return out
}

// Metrics turns one sample into CRI metrics for ListPodSandboxMetrics. res,
// the container's OCI resources, feeds the container_spec_* metrics and may
// be nil (then only the memory limit read from the cgroup is reported).
func Metrics(s *Stats, l MetricLabels, res *specs.LinuxResources) []*runtime.Metric {
	if s == nil {
		return nil
	}
	labels := []string{l.Pod, l.Namespace, l.Container, l.ID, l.Image}
	ts := s.Timestamp.UnixNano()
	var out []*runtime.Metric
	add := func(name string, v uint64, extra ...string) {
		out = append(out, &runtime.Metric{
			Name:        name,
			Timestamp:   ts,
			MetricType:  metricTypes[name],
			LabelValues: append(append([]string(nil), labels...), extra...),
			Value:       &runtime.UInt64Value{Value: v},
		})
	}
	sec := uint64(time.Second)

	add("container_cpu_usage_seconds_total", s.CPUUsageNanos/sec)
	add("container_cpu_user_seconds_total", s.CPUUserNanos/sec)
	add("container_cpu_system_seconds_total", s.CPUSystemNanos/sec)
	add("container_cpu_cfs_periods_total", s.CPUPeriods)
	add("container_cpu_cfs_throttled_periods_total", s.CPUThrottledPeriods)
	add("container_cpu_cfs_throttled_seconds_total", s.CPUThrottledNanos/sec)

	add("container_memory_usage_bytes", s.MemoryUsage)
	add("container_memory_max_usage_bytes", s.MemoryMaxUsage)
	add("container_memory_working_set_bytes", s.MemoryWorkingSet)
	add("container_memory_rss", s.MemoryRSS)
	add("container_memory_cache", s.MemoryCache)
	add("container_memory_mapped_file", s.MemoryMappedFile)
	add("container_memory_swap", s.MemorySwap)
	add("container_memory_failcnt", s.MemoryFailcnt)
	add("container_memory_total_active_file_bytes", s.MemoryActiveFile)
	add("container_memory_total_inactive_file_bytes", s.MemoryInactiveFile)
	add("container_memory_failures_total", s.PageFaults, "pgfault", "container")
	add("container_memory_failures_total", s.MajorPageFaults, "pgmajfault", "container")
	add("container_oom_events_total", s.OOMKills)

	add("container_threads", s.PidsCurrent)
	add("container_threads_max", s.PidsLimit)
	add("container_last_seen", uint64(s.Timestamp.Unix()))

	memLimit := s.MemoryLimit
	if res != nil && res.CPU != nil {
		if c := res.CPU; c.Period != nil {
			add("container_spec_cpu_period", *c.Period)
		}
		if c := res.CPU; c.Quota != nil && *c.Quota > 0 {
			add("container_spec_cpu_quota", uint64(*c.Quota))
		}
		if c := res.CPU; c.Shares != nil {
			add("container_spec_cpu_shares", *c.Shares)
		}
	}
	if res != nil && res.Memory != nil {
		if mem := res.Memory; mem.Limit != nil && *mem.Limit > 0 {
			memLimit = uint64(*mem.Limit)
		}
		if mem := res.Memory; mem.Reservation != nil && *mem.Reservation > 0 {
			add("container_spec_memory_reservation_limit_bytes", uint64(*mem.Reservation))
		}
		if mem := res.Memory; mem.Swap != nil && *mem.Swap > 0 {
			add("container_spec_memory_swap_limit_bytes", uint64(*mem.Swap))
		}
	}
	add("container_spec_memory_limit_bytes", memLimit)
	return out
}
