package cgroups

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

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
		MemorySwap: 7, MemoryFailcnt: 3, PageFaults: 99, MajorPageFaults: 9, MemoryLimit: 4096, MemoryKernel: 77,
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
	l := MetricLabels{Pod: "p", Namespace: "ns", Container: "c", ID: "id", Image: "img"}
	ts := sample().Timestamp
	ms := Metrics(sample(), l, res)
	ms = append(ms, ProcessMetrics(ProcessCounts{Processes: 1}, l, ts)...)
	ms = append(ms, StartTimeMetric(time.Unix(1600000000, 0), l, ts)...)
	ms = append(ms, FsMetrics(FsUsage{Device: "/dev/vda1", UsageBytes: 1, LimitBytes: 2}, l, ts)...)
	ms = append(ms, BlkioMetrics([]BlkioDevice{{Major: 8, Name: "/dev/sda"}}, l, ts)...)
	ms = append(ms, NetworkMetrics([]NetInterface{{Name: "eth0"}}, l, ts)...)
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
	// With full resources and every source, each descriptor is produced:
	// none is dead weight.
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
		"container_memory_kernel_usage":             {77, runtime.MetricType_GAUGE},
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

// metricKey identifies one sample: its name and label values.
func metricKey(m *runtime.Metric) string {
	return m.Name + "{" + strings.Join(m.LabelValues, ",") + "}"
}

func TestSourceMetrics(t *testing.T) {
	l := MetricLabels{Pod: "p", Namespace: "ns", Container: "c", ID: "id", Image: "img"}
	ts := time.Unix(1700000000, 0)
	base := "p,ns,c,id,img"
	tests := []struct {
		name string
		got  []*runtime.Metric
		want map[string]uint64 // metricKey -> value; exactly these samples
	}{
		{"processes", ProcessMetrics(ProcessCounts{Processes: 2, FileDescriptors: 9, Sockets: 1}, l, ts), map[string]uint64{
			"container_processes{" + base + "}": 2, "container_file_descriptors{" + base + "}": 9, "container_sockets{" + base + "}": 1,
		}},
		{"start time", StartTimeMetric(time.Unix(1600000000, 999_999_999), l, ts), map[string]uint64{
			"container_start_time_seconds{" + base + "}": 1600000000,
		}},
		{"never started", StartTimeMetric(time.Time{}, l, ts), map[string]uint64{}},
		{"never started (epoch)", StartTimeMetric(time.Unix(0, 0), l, ts), map[string]uint64{}},
		{"fs", FsMetrics(FsUsage{Device: "/dev/vda1", UsageBytes: 4096, LimitBytes: 1 << 30, InodesTotal: 1000, InodesFree: 600}, l, ts), map[string]uint64{
			"container_fs_usage_bytes{" + base + ",/dev/vda1}":  4096,
			"container_fs_limit_bytes{" + base + ",/dev/vda1}":  1 << 30,
			"container_fs_inodes_total{" + base + ",/dev/vda1}": 1000,
			"container_fs_inodes_free{" + base + ",/dev/vda1}":  600,
		}},
		{"fs unknown filesystem", FsMetrics(FsUsage{UsageBytes: 4096}, l, ts), map[string]uint64{
			"container_fs_usage_bytes{" + base + ",}": 4096,
		}},
		{"blkio", BlkioMetrics([]BlkioDevice{{Major: 8, Minor: 16, Name: "/dev/sdb", ReadBytes: 100, WriteBytes: 200, Reads: 3, Writes: 4}}, l, ts), map[string]uint64{
			"container_fs_reads_bytes_total{" + base + ",/dev/sdb}":                100,
			"container_fs_reads_total{" + base + ",/dev/sdb}":                      3,
			"container_fs_writes_bytes_total{" + base + ",/dev/sdb}":               200,
			"container_fs_writes_total{" + base + ",/dev/sdb}":                     4,
			"container_blkio_device_usage_total{" + base + ",/dev/sdb,8,16,Read}":  100,
			"container_blkio_device_usage_total{" + base + ",/dev/sdb,8,16,Write}": 200,
		}},
		{"no blkio devices", BlkioMetrics(nil, l, ts), map[string]uint64{}},
		{"network", NetworkMetrics([]NetInterface{{Name: "eth0", RxBytes: 1, RxPackets: 2, RxErrors: 3, RxDropped: 4, TxBytes: 5, TxPackets: 6, TxErrors: 7, TxDropped: 8}}, l, ts), map[string]uint64{
			"container_network_receive_bytes_total{" + base + ",eth0}":            1,
			"container_network_receive_packets_total{" + base + ",eth0}":          2,
			"container_network_receive_errors_total{" + base + ",eth0}":           3,
			"container_network_receive_packets_dropped_total{" + base + ",eth0}":  4,
			"container_network_transmit_bytes_total{" + base + ",eth0}":           5,
			"container_network_transmit_packets_total{" + base + ",eth0}":         6,
			"container_network_transmit_errors_total{" + base + ",eth0}":          7,
			"container_network_transmit_packets_dropped_total{" + base + ",eth0}": 8,
		}},
	}
	descs := map[string]*runtime.MetricDescriptor{}
	for _, d := range MetricDescriptors() {
		descs[d.Name] = d
	}
	for _, tc := range tests {
		got := map[string]uint64{}
		for _, m := range tc.got {
			got[metricKey(m)] = m.Value.GetValue()
			if d := descs[m.Name]; d == nil || len(d.LabelKeys) != len(m.LabelValues) || m.MetricType != metricTypes[m.Name] || m.Timestamp != ts.UnixNano() {
				t.Errorf("%s: %v does not match its descriptor %v", tc.name, m, d)
			}
		}
		if len(got) != len(tc.got) || !maps.Equal(got, tc.want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

// A real /proc/net/dev layout (kernel 6.x), with the loopback and a
// malformed line that must be skipped.
const netDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 7331456    5271    1    2    0     0          0         0   612344    4120    3    4    0     0       0          0
 net1:99 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
 bad0: 1 2 3
`

func TestParseNetDev(t *testing.T) {
	got, err := ParseNetDev(strings.NewReader(netDev))
	if err != nil {
		t.Fatal(err)
	}
	want := []NetInterface{
		{Name: "eth0", RxBytes: 7331456, RxPackets: 5271, RxErrors: 1, RxDropped: 2, TxBytes: 612344, TxPackets: 4120, TxErrors: 3, TxDropped: 4},
		{Name: "net1", RxBytes: 99, RxPackets: 1, RxErrors: 2, RxDropped: 3, TxBytes: 8, TxPackets: 9, TxErrors: 10, TxDropped: 11},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseNetDev:\n got %+v\nwant %+v", got, want)
	}
	if got, err := ParseNetDev(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestParseBlkio(t *testing.T) {
	// v1 throttle files: bytes for two devices, requests listing a third.
	bytes := "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n8:0 Async 4096\n8:0 Discard 0\n8:0 Total 12288\n" +
		"253:1 Read 512\n253:1 Write 0\nTotal 12800\n"
	ops := "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\n253:1 Read 1\n7:3 Write 5\nTotal 9\n"
	got := mergeV1Blkio(bytes, ops)
	want := []BlkioDevice{
		{Major: 8, Minor: 0, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2},
		{Major: 253, Minor: 1, ReadBytes: 512, Reads: 1},
		{Major: 7, Minor: 3, Writes: 5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("v1:\n got %+v\nwant %+v", got, want)
	}
	// An idle cgroup: the kernel writes only the total.
	if got := mergeV1Blkio("Total 0\n", "Total 0\n"); len(got) != 0 {
		t.Errorf("idle v1: %+v", got)
	}

	v2 := "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 cost.usage=3\n"
	want = []BlkioDevice{
		{Major: 8, Minor: 0, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2},
		{Major: 253, Minor: 1, ReadBytes: 512, Reads: 1},
	}
	if got := parseIOStat(v2); !slices.Equal(got, want) {
		t.Errorf("v2:\n got %+v\nwant %+v", got, want)
	}
}

func TestBlockDeviceName(t *testing.T) {
	sys := t.TempDir()
	writeTree(t, sys, map[string]string{
		"8:0/uevent":   "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n",
		"253:1/uevent": "MAJOR=253\nMINOR=1\n",
	})
	for _, tc := range []struct {
		major, minor uint64
		want         string
	}{{8, 0, "/dev/sda"}, {253, 1, "253:1"}, {9, 9, "9:9"}} {
		if got := blockDeviceName(sys, tc.major, tc.minor); got != tc.want {
			t.Errorf("%d:%d = %q, want %q", tc.major, tc.minor, got, tc.want)
		}
	}
}

func TestBlkioFake(t *testing.T) {
	m, root := fakeV2(t)
	writeTree(t, root, map[string]string{
		"kubepods/burstable/pod1/ctr1/io.stat": "7:3 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
	})
	got, err := m.Blkio(fakeCtr)
	// 7:3 is a loop device: named from this host's /sys when it has one.
	want := []BlkioDevice{{Major: 7, Minor: 3, Name: blockDeviceName(sysDevBlock, 7, 3), ReadBytes: 10, WriteBytes: 20, Reads: 1, Writes: 2}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("v2 Blkio = %+v, %v; want %+v", got, err, want)
	}
	if _, err := m.Blkio("/kubepods/nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing cgroup: %v", err)
	}

	v1 := t.TempDir()
	writeTree(t, v1, map[string]string{
		"memory/cgroup.procs": "",
		// only the non-recursive files, as older kernels have
		"blkio/pod/ctr/blkio.throttle.io_service_bytes": "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
		"blkio/pod/ctr/blkio.throttle.io_serviced":      "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
		// the recursive ones win when present
		"blkio/pod/blkio.throttle.io_service_bytes":           "Total 0\n",
		"blkio/pod/blkio.throttle.io_service_bytes_recursive": "8:0 Read 8192\nTotal 8192\n",
		"blkio/pod/blkio.throttle.io_serviced":                "Total 0\n",
		"blkio/pod/blkio.throttle.io_serviced_recursive":      "8:0 Read 2\nTotal 2\n",
	})
	m1, err := New(v1)
	if err != nil {
		t.Fatal(err)
	}
	name := blockDeviceName(sysDevBlock, 8, 0)
	if got, err := m1.Blkio("/pod/ctr"); err != nil || !slices.Equal(got, []BlkioDevice{{Major: 8, Name: name, ReadBytes: 4096, Reads: 1}}) {
		t.Errorf("v1 container Blkio = %+v, %v", got, err)
	}
	if got, err := m1.Blkio("/pod"); err != nil || !slices.Equal(got, []BlkioDevice{{Major: 8, Name: name, ReadBytes: 8192, Reads: 2}}) {
		t.Errorf("v1 pod Blkio = %+v, %v", got, err)
	}
	if _, err := m1.Blkio("/nope"); !errdefs.IsNotFound(err) {
		t.Errorf("v1 missing cgroup: %v", err)
	}
}

func TestKernelMemoryFake(t *testing.T) {
	m, root := fakeV2(t)
	writeTree(t, root, map[string]string{
		"kubepods/burstable/pod1/ctr1/memory.stat": "anon 6291456\nfile 4194304\nkernel 1310720\nkernel_stack 65536\n",
	})
	s, err := m.Stats(fakeCtr)
	if err != nil || s.MemoryKernel != 1310720 {
		t.Errorf("v2 kernel memory %d, %v; want memory.stat kernel 1310720", s.MemoryKernel, err)
	}
}

func TestCountDescriptors(t *testing.T) {
	proc := t.TempDir()
	for pid, fds := range map[string]map[string]string{
		"10": {"0": "/dev/null", "1": "pipe:[11]", "2": "socket:[12]", "3": "socket:[13]"},
		"11": {"0": "/dev/null"},
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for fd, target := range fds {
			if err := os.Symlink(target, filepath.Join(proc, pid, "fd", fd)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// 12: a zombie (no fd table), 13: exited since cgroup.procs was read.
	if err := os.MkdirAll(filepath.Join(proc, "12"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := countDescriptors(proc, []int{10, 11, 12, 13})
	if want := (ProcessCounts{Processes: 3, FileDescriptors: 5, Sockets: 2}); got != want {
		t.Errorf("countDescriptors = %+v, want %+v", got, want)
	}
}

func TestCgroupPidsFake(t *testing.T) {
	m, root := fakeV2(t)
	writeTree(t, root, map[string]string{
		"kubepods/burstable/pod1/cgroup.procs":          "7\n",
		"kubepods/burstable/pod1/ctr1/cgroup.procs":     "42\n43\n",
		"kubepods/burstable/pod1/ctr1/sub/cgroup.procs": "44\n43\n",
	})
	if got, err := cgroupPids(filepath.Join(root, "kubepods/burstable/pod1")); err != nil || !slices.Equal(got, []int{7, 42, 43, 44}) {
		t.Errorf("pod pids %v, %v", got, err)
	}
	if _, err := m.ProcessCounts("/kubepods/nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing cgroup: %v", err)
	}
	if _, err := m.ProcessCounts("/"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("root cgroup: %v", err)
	}
}

// TestHostV1ProcessesAndKernelMemory checks the new readers against a real
// v1 cgroup holding one child process.
func TestHostV1ProcessesAndKernelMemory(t *testing.T) {
	cg, _ := newHostCgroup(t, burstable, "100")
	c := startChild(t, cg, "busy")
	c.stdin.Write([]byte("g"))
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cg.m.ProcessCounts(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	// The child idles: its descriptor table is steady.
	if want := (ProcessCounts{Processes: 1, FileDescriptors: uint64(len(fds))}); p != want {
		t.Errorf("ProcessCounts = %+v, want %+v", p, want)
	}

	s, err := cg.m.Stats(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	kmem, err := os.ReadFile(filepath.Join(cg.m.root, "memory", cg.rel, "memory.kmem.usage_in_bytes"))
	if err != nil {
		t.Skipf("kernel without kmem accounting: %v", err)
	}
	k, _ := strconv.ParseUint(strings.TrimSpace(string(kmem)), 10, 64)
	// Page tables and stacks of a running Go process: never zero.
	if s.MemoryKernel == 0 || k == 0 || int64(s.MemoryKernel)-int64(k) > 1<<20 || int64(k)-int64(s.MemoryKernel) > 1<<20 {
		t.Errorf("kernel memory %d vs memory.kmem.usage_in_bytes %d", s.MemoryKernel, k)
	}

	if _, err := cg.m.Blkio(cg.rel); err != nil && exists("/sys/fs/cgroup/blkio") {
		t.Errorf("Blkio: %v", err)
	}
}
