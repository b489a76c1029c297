package cgroups

import (
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func sample() *Stats {
	return &Stats{
		Timestamp:     time.Unix(1700000000, 500),
		CPUUsageNanos: 3_700_000_000, CPUUserNanos: 2_100_000_000, CPUSystemNanos: 1_600_000_000,
		CPUPeriods: 10, CPUThrottledPeriods: 4, CPUThrottledNanos: 2_000_000_000,
		MemoryUsage: 1000, MemoryMaxUsage: 2000, MemoryWorkingSet: 800, MemoryRSS: 500,
		MemoryCache: 300, MemoryMappedFile: 30, MemoryActiveFile: 100, MemoryInactiveFile: 200,
		MemorySwap: 7, MemoryFailcnt: 3, PageFaults: 99, MajorPageFaults: 9, MemoryLimit: 4096,
		PidsCurrent: 6, PidsLimit: 64, OOMKills: 2,
	}
}

func TestMetricsMatchDescriptors(t *testing.T) {
	descs := map[string]*runtime.MetricDescriptor{}
	for _, d := range MetricDescriptors() {
		if descs[d.Name] != nil {
			t.Errorf("descriptor %s listed twice", d.Name)
		}
		descs[d.Name] = d
	}
	res := ToOCI(burstable, 0)
	res.Memory.Reservation = i64(64 << 20)
	ms := Metrics(sample(), MetricLabels{Pod: "p", Namespace: "ns", Container: "c", ID: "id", Image: "img"}, res)
	seen := map[string]bool{}
	for _, m := range ms {
		d := descs[m.Name]
		if d == nil {
			t.Errorf("metric %s has no descriptor: kubelet would drop it", m.Name)
			continue
		}
		seen[m.Name] = true
		if len(m.LabelValues) != len(d.LabelKeys) {
			t.Errorf("%s: %d label values for keys %v", m.Name, len(m.LabelValues), d.LabelKeys)
		}
		if m.Timestamp != sample().Timestamp.UnixNano() {
			t.Errorf("%s: timestamp %d", m.Name, m.Timestamp)
		}
	}
	// With full resources every descriptor is produced: none is dead weight.
	for name := range descs {
		if !seen[name] {
			t.Errorf("descriptor %s never produced", name)
		}
	}
}

func TestMetricsValues(t *testing.T) {
	res := ToOCI(burstable, 0)
	got := map[string]*runtime.Metric{}
	var failures []*runtime.Metric
	for _, m := range Metrics(sample(), MetricLabels{Pod: "p", Namespace: "ns", Container: "c", ID: "id", Image: "img"}, res) {
		if m.Name == "container_memory_failures_total" {
			failures = append(failures, m)
			continue
		}
		got[m.Name] = m
	}
	want := map[string]struct {
		v   uint64
		typ runtime.MetricType
	}{
		"container_cpu_usage_seconds_total":         {3, runtime.MetricType_COUNTER},
		"container_cpu_user_seconds_total":          {2, runtime.MetricType_COUNTER},
		"container_cpu_system_seconds_total":        {1, runtime.MetricType_COUNTER},
		"container_cpu_cfs_periods_total":           {10, runtime.MetricType_COUNTER},
		"container_cpu_cfs_throttled_periods_total": {4, runtime.MetricType_COUNTER},
		"container_cpu_cfs_throttled_seconds_total": {2, runtime.MetricType_COUNTER},
		"container_memory_usage_bytes":              {1000, runtime.MetricType_GAUGE},
		"container_memory_working_set_bytes":        {800, runtime.MetricType_GAUGE},
		"container_memory_rss":                      {500, runtime.MetricType_GAUGE},
		"container_memory_swap":                     {7, runtime.MetricType_GAUGE},
		"container_oom_events_total":                {2, runtime.MetricType_COUNTER},
		"container_threads":                         {6, runtime.MetricType_GAUGE},
		"container_threads_max":                     {64, runtime.MetricType_GAUGE},
		"container_spec_cpu_period":                 {100000, runtime.MetricType_GAUGE},
		"container_spec_cpu_quota":                  {50000, runtime.MetricType_GAUGE},
		"container_spec_cpu_shares":                 {256, runtime.MetricType_GAUGE},
		// the spec's limit wins over the (stale) cgroup reading
		"container_spec_memory_limit_bytes":      {134217728, runtime.MetricType_GAUGE},
		"container_spec_memory_swap_limit_bytes": {134217728, runtime.MetricType_GAUGE},
	}
	for name, w := range want {
		m := got[name]
		if m == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if m.Value.GetValue() != w.v || m.MetricType != w.typ {
			t.Errorf("%s = %d (%v), want %d (%v)", name, m.Value.GetValue(), m.MetricType, w.v, w.typ)
		}
		if lv := m.LabelValues; len(lv) != 5 || lv[0] != "p" || lv[1] != "ns" || lv[2] != "c" || lv[3] != "id" || lv[4] != "img" {
			t.Errorf("%s labels %v", name, lv)
		}
	}
	if len(failures) != 2 || failures[0].Value.Value != 99 || failures[0].LabelValues[5] != "pgfault" ||
		failures[1].Value.Value != 9 || failures[1].LabelValues[5] != "pgmajfault" || failures[1].LabelValues[6] != "container" {
		t.Errorf("memory failures %v", failures)
	}

	// Without resources the limit read from the cgroup is reported.
	for _, m := range Metrics(sample(), MetricLabels{}, nil) {
		if m.Name == "container_spec_memory_limit_bytes" && m.Value.Value != 4096 {
			t.Errorf("spec memory limit without resources = %d", m.Value.Value)
		}
		if m.Name == "container_spec_cpu_shares" {
			t.Error("cpu shares reported without resources")
		}
	}
	if Metrics(nil, MetricLabels{}, &specs.LinuxResources{}) != nil {
		t.Error("metrics for a nil sample")
	}
}

func TestToCRICPU(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	prev := &Stats{Timestamp: t0, CPUUsageNanos: 1_000_000_000}
	cur := &Stats{Timestamp: t0.Add(2 * time.Second), CPUUsageNanos: 2_000_000_000}
	u := ToCRICPU(cur, prev)
	if u.Timestamp != cur.Timestamp.UnixNano() || u.UsageCoreNanoSeconds.GetValue() != 2_000_000_000 {
		t.Errorf("cpu usage %v", u)
	}
	if u.UsageNanoCores.GetValue() != 500_000_000 { // 1 s of CPU in 2 s: half a core
		t.Errorf("nano cores %d, want 500000000", u.UsageNanoCores.GetValue())
	}
	for name, p := range map[string]*Stats{
		"no previous sample":     nil,
		"same timestamp":         {Timestamp: cur.Timestamp, CPUUsageNanos: 1},
		"counter went backwards": {Timestamp: t0, CPUUsageNanos: 3_000_000_000},
	} {
		if u := ToCRICPU(cur, p); u.UsageNanoCores != nil {
			t.Errorf("%s: nano cores %v, want nil for kubelet to compute", name, u.UsageNanoCores)
		}
	}
	// Hours apart at full load: no overflow.
	long := &Stats{Timestamp: t0.Add(10 * time.Hour), CPUUsageNanos: 1_000_000_000 + uint64(20*time.Hour)}
	if got := ToCRICPU(long, prev).UsageNanoCores.GetValue(); got < 1_999_000_000 || got > 2_001_000_000 {
		t.Errorf("two busy cores over 10h: %d nano cores", got)
	}
	if ToCRICPU(nil, prev) != nil {
		t.Error("nil sample")
	}
}

func TestToCRIMemory(t *testing.T) {
	u := ToCRIMemory(sample())
	if u.WorkingSetBytes.Value != 800 || u.UsageBytes.Value != 1000 || u.RssBytes.Value != 500 ||
		u.PageFaults.Value != 99 || u.MajorPageFaults.Value != 9 || u.AvailableBytes.GetValue() != 4096-800 {
		t.Errorf("memory usage %v", u)
	}
	s := sample()
	s.MemoryLimit = 0
	if u := ToCRIMemory(s); u.AvailableBytes != nil {
		t.Errorf("available bytes %v for an unlimited cgroup", u.AvailableBytes)
	}
	s.MemoryLimit = 500 // working set above the limit (a limit lowered by update)
	if u := ToCRIMemory(s); u.AvailableBytes.GetValue() != 0 {
		t.Errorf("available bytes %v, want 0", u.AvailableBytes)
	}
	if ToCRIMemory(nil) != nil {
		t.Error("nil sample")
	}
}
