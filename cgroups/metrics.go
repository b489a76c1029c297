package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"

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

// withKeys extends metricLabelKeys with a metric's own labels, appended
// after the common ones (in the order kubelet and cAdvisor use).
func withKeys(extra ...string) []string {
	return append(append([]string(nil), metricLabelKeys...), extra...)
}

var (
	// failureLabelKeys: container_memory_failures_total.
	failureLabelKeys = withKeys("failure_type", "scope")
	// fsLabelKeys: the container_fs_* family, per device (the filesystem of
	// the writable layer, or a block device for I/O counters).
	fsLabelKeys = withKeys("device")
	// blkioLabelKeys: container_blkio_device_usage_total, per device and
	// operation (Read, Write).
	blkioLabelKeys = withKeys("device", "major", "minor", "operation")
	// netLabelKeys: the container_network_* family, per pod interface.
	netLabelKeys = withKeys("interface")
)

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
	{"container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", runtime.MetricType_GAUGE, metricLabelKeys},

	// From the container's processes (ProcessMetrics).
	{"container_processes", "Number of processes running inside the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_file_descriptors", "Number of open file descriptors for the container.", runtime.MetricType_GAUGE, metricLabelKeys},
	{"container_sockets", "Number of open sockets for the container.", runtime.MetricType_GAUGE, metricLabelKeys},

	// From the container record (StartTimeMetric).
	{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", runtime.MetricType_GAUGE, metricLabelKeys},

	// From the writable layer and its filesystem (FsMetrics).
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", runtime.MetricType_GAUGE, fsLabelKeys},
	{"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", runtime.MetricType_GAUGE, fsLabelKeys},
	{"container_fs_inodes_total", "Number of Inodes.", runtime.MetricType_GAUGE, fsLabelKeys},
	{"container_fs_inodes_free", "Number of available Inodes.", runtime.MetricType_GAUGE, fsLabelKeys},

	// From the blkio (v1) or io (v2) controller (BlkioMetrics).
	{"container_fs_reads_bytes_total", "Cumulative count of bytes read.", runtime.MetricType_COUNTER, fsLabelKeys},
	{"container_fs_reads_total", "Cumulative count of reads completed.", runtime.MetricType_COUNTER, fsLabelKeys},
	{"container_fs_writes_bytes_total", "Cumulative count of bytes written.", runtime.MetricType_COUNTER, fsLabelKeys},
	{"container_fs_writes_total", "Cumulative count of writes completed.", runtime.MetricType_COUNTER, fsLabelKeys},
	{"container_blkio_device_usage_total", "Blkio device bytes usage.", runtime.MetricType_COUNTER, blkioLabelKeys},

	// From the pod's network namespace (NetworkMetrics); pod-level only.
	{"container_network_receive_bytes_total", "Cumulative count of bytes received.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_receive_packets_total", "Cumulative count of packets received.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", runtime.MetricType_COUNTER, netLabelKeys},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", runtime.MetricType_COUNTER, netLabelKeys},
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
	b := newBuilder(l, s.Timestamp)
	add := b.add
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
	add("container_memory_kernel_usage", s.MemoryKernel)

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
	return b.out
}

// builder accumulates metrics sharing one set of labels and one timestamp.
type builder struct {
	labels []string
	ts     int64
	out    []*runtime.Metric
}

func newBuilder(l MetricLabels, ts time.Time) *builder {
	return &builder{labels: []string{l.Pod, l.Namespace, l.Container, l.ID, l.Image}, ts: ts.UnixNano()}
}

// add appends one sample; extra are the values of the metric's own label
// keys, after the common ones.
func (b *builder) add(name string, v uint64, extra ...string) {
	b.out = append(b.out, &runtime.Metric{
		Name:        name,
		Timestamp:   b.ts,
		MetricType:  metricTypes[name],
		LabelValues: append(append([]string(nil), b.labels...), extra...),
		Value:       &runtime.UInt64Value{Value: v},
	})
}

// ProcessCounts describes the processes of one cgroup (and its children).
type ProcessCounts struct {
	Processes       uint64 // distinct PIDs in cgroup.procs
	FileDescriptors uint64 // open descriptors, summed over those processes
	Sockets         uint64 // the descriptors that are sockets
}

// ProcessMetrics reports p as container_processes, container_file_descriptors
// and container_sockets, sampled at ts.
func ProcessMetrics(p ProcessCounts, l MetricLabels, ts time.Time) []*runtime.Metric {
	b := newBuilder(l, ts)
	b.add("container_processes", p.Processes)
	b.add("container_file_descriptors", p.FileDescriptors)
	b.add("container_sockets", p.Sockets)
	return b.out
}

// StartTimeMetric reports when the container started, in whole seconds
// since the epoch; nil for a container that never started.
func StartTimeMetric(started time.Time, l MetricLabels, ts time.Time) []*runtime.Metric {
	if started.IsZero() || started.Unix() <= 0 {
		return nil
	}
	b := newBuilder(l, ts)
	b.add("container_start_time_seconds", uint64(started.Unix()))
	return b.out
}

// FsUsage is a container's writable layer and the filesystem holding it.
// Capacity fields are 0 when the filesystem could not be identified (a
// stopped container whose rootfs is unmounted): they are then not reported.
type FsUsage struct {
	Device      string // as cAdvisor: the mount source, e.g. /dev/vda1 ("" if unknown)
	UsageBytes  uint64 // bytes written to the writable layer
	LimitBytes  uint64 // size of the filesystem
	InodesTotal uint64
	InodesFree  uint64
}

// FsMetrics reports f as the container_fs_{usage,limit}_bytes and
// container_fs_inodes_{total,free} metrics of f.Device.
func FsMetrics(f FsUsage, l MetricLabels, ts time.Time) []*runtime.Metric {
	b := newBuilder(l, ts)
	b.add("container_fs_usage_bytes", f.UsageBytes, f.Device)
	if f.LimitBytes > 0 {
		b.add("container_fs_limit_bytes", f.LimitBytes, f.Device)
		b.add("container_fs_inodes_total", f.InodesTotal, f.Device)
		b.add("container_fs_inodes_free", f.InodesFree, f.Device)
	}
	return b.out
}

// BlkioMetrics reports per-device I/O as cAdvisor does: the
// container_fs_{reads,writes}[_bytes]_total counters per device and
// container_blkio_device_usage_total per device and operation.
func BlkioMetrics(devs []BlkioDevice, l MetricLabels, ts time.Time) []*runtime.Metric {
	b := newBuilder(l, ts)
	for _, d := range devs {
		b.add("container_fs_reads_bytes_total", d.ReadBytes, d.Name)
		b.add("container_fs_reads_total", d.Reads, d.Name)
		b.add("container_fs_writes_bytes_total", d.WriteBytes, d.Name)
		b.add("container_fs_writes_total", d.Writes, d.Name)
		maj, min := strconv.FormatUint(d.Major, 10), strconv.FormatUint(d.Minor, 10)
		b.add("container_blkio_device_usage_total", d.ReadBytes, d.Name, maj, min, "Read")
		b.add("container_blkio_device_usage_total", d.WriteBytes, d.Name, maj, min, "Write")
	}
	return b.out
}

// NetInterface holds one interface's counters from /proc/<pid>/net/dev.
type NetInterface struct {
	Name                                    string
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// NetworkMetrics reports the container_network_* counters of each
// interface. CRI-O and containerd report them once per pod, as all its
// containers share one network namespace.
func NetworkMetrics(ifaces []NetInterface, l MetricLabels, ts time.Time) []*runtime.Metric {
	b := newBuilder(l, ts)
	for _, i := range ifaces {
		b.add("container_network_receive_bytes_total", i.RxBytes, i.Name)
		b.add("container_network_receive_packets_total", i.RxPackets, i.Name)
		b.add("container_network_receive_packets_dropped_total", i.RxDropped, i.Name)
		b.add("container_network_receive_errors_total", i.RxErrors, i.Name)
		b.add("container_network_transmit_bytes_total", i.TxBytes, i.Name)
		b.add("container_network_transmit_packets_total", i.TxPackets, i.Name)
		b.add("container_network_transmit_packets_dropped_total", i.TxDropped, i.Name)
		b.add("container_network_transmit_errors_total", i.TxErrors, i.Name)
	}
	return b.out
}

// ParseNetDev parses /proc/<pid>/net/dev (two header lines, then
// "name: 8 receive counters 8 transmit counters"), skipping the loopback
// device as cAdvisor does: it carries no pod traffic worth alerting on.
func ParseNetDev(r io.Reader) ([]NetInterface, error) {
	var out []NetInterface
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || name == "lo" || strings.Contains(name, "|") {
			continue // header lines hold '|'
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		var v [16]uint64
		bad := false
		for i := range v {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				bad = true
				break
			}
			v[i] = n
		}
		if bad {
			continue
		}
		// receive: bytes packets errs drop fifo frame compressed multicast;
		// transmit: bytes packets errs drop fifo colls carrier compressed.
		out = append(out, NetInterface{
			Name: name, RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse net/dev: %w", err)
	}
	return out, nil
}

// BlkioDevice is one block device's I/O done by a cgroup.
type BlkioDevice struct {
	Major, Minor          uint64
	Name                  string // /dev/<name> from /sys/dev/block, else "major:minor"
	ReadBytes, WriteBytes uint64
	Reads, Writes         uint64 // completed requests
}

// Blkio reads the per-device I/O of cgroup path: on v1 the blkio
// throttle counters (kept by every kernel, whatever the I/O scheduler;
// the *_recursive variants so that a pod cgroup includes its containers),
// on v2 io.stat. No file, or an idle cgroup, gives no devices: I/O that
// only hit the page cache is not there.
func (m *Manager) Blkio(path string) ([]BlkioDevice, error) {
	rel, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	var devs []BlkioDevice
	if m.mode == ModeV2 {
		b, err := os.ReadFile(filepath.Join(m.v2root, rel, "io.stat"))
		if err != nil {
			return nil, blkioErr(rel, err)
		}
		devs = parseIOStat(string(b))
	} else {
		dir := m.v1Dir("blkio", rel)
		bytes, err := readV1Blkio(dir, "blkio.throttle.io_service_bytes")
		if err != nil {
			return nil, blkioErr(rel, err)
		}
		ops, err := readV1Blkio(dir, "blkio.throttle.io_serviced")
		if err != nil {
			return nil, blkioErr(rel, err)
		}
		devs = mergeV1Blkio(bytes, ops)
	}
	for i := range devs {
		devs[i].Name = blockDeviceName(sysDevBlock, devs[i].Major, devs[i].Minor)
	}
	return devs, nil
}

func blkioErr(rel string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup %s: blkio stats: %w: %w", rel, err, errdefs.ErrNotFound)
	}
	return fmt.Errorf("cgroup %s: blkio stats: %w", rel, err)
}

// readV1Blkio reads name_recursive, else name (older kernels lack the
// recursive files for the throttle policy).
func readV1Blkio(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name+"_recursive"))
	if errors.Is(err, os.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(dir, name))
	}
	return string(b), err
}

type devKey struct{ major, minor uint64 }

// parseV1Blkio parses "major:minor Op value" lines (Op: Read, Write, Sync,
// Async, Discard, Total) into read and write values per device; the final
// "Total n" line and other operations are skipped.
func parseV1Blkio(s string) (keys []devKey, read, write map[devKey]uint64) {
	read, write = map[devKey]uint64{}, map[devKey]uint64{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		k, ok := parseDev(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		if _, seen := read[k]; !seen {
			keys = append(keys, k)
			read[k] = 0
		}
		switch f[1] {
		case "Read":
			read[k] = v
		case "Write":
			write[k] = v
		}
	}
	return keys, read, write
}

// mergeV1Blkio joins io_service_bytes and io_serviced, in the order
// devices first appear.
func mergeV1Blkio(bytesFile, opsFile string) []BlkioDevice {
	keys, rb, wb := parseV1Blkio(bytesFile)
	okeys, ro, wo := parseV1Blkio(opsFile)
	for _, k := range okeys {
		if _, ok := rb[k]; !ok {
			keys = append(keys, k)
		}
	}
	out := make([]BlkioDevice, 0, len(keys))
	for _, k := range keys {
		out = append(out, BlkioDevice{Major: k.major, Minor: k.minor, ReadBytes: rb[k], WriteBytes: wb[k], Reads: ro[k], Writes: wo[k]})
	}
	return out
}

// parseIOStat parses cgroup v2 io.stat: "major:minor rbytes=n wbytes=n
// rios=n wios=n dbytes=n dios=n" per device.
func parseIOStat(s string) []BlkioDevice {
	var out []BlkioDevice
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		k, ok := parseDev(f[0])
		if !ok {
			continue
		}
		d := BlkioDevice{Major: k.major, Minor: k.minor}
		for _, kv := range f[1:] {
			key, val, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				continue
			}
			switch key {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "rios":
				d.Reads = n
			case "wios":
				d.Writes = n
			}
		}
		out = append(out, d)
	}
	return out
}

func parseDev(s string) (devKey, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return devKey{}, false
	}
	maj, err1 := strconv.ParseUint(a, 10, 64)
	min, err2 := strconv.ParseUint(b, 10, 64)
	return devKey{maj, min}, err1 == nil && err2 == nil
}

// sysDevBlock holds one directory per block device, named major:minor.
const sysDevBlock = "/sys/dev/block"

// blockDeviceName names a block device as cAdvisor does ("/dev/vda"), from
// the DEVNAME in its uevent file; "major:minor" when the kernel does not say.
func blockDeviceName(sysDir string, major, minor uint64) string {
	id := fmt.Sprintf("%d:%d", major, minor)
	b, err := os.ReadFile(filepath.Join(sysDir, id, "uevent"))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "DEVNAME="); ok && name != "" {
				return "/dev/" + name
			}
		}
	}
	return id
}

// ProcessCounts counts the processes of cgroup path and its descendants
// (v1: in the pids hierarchy, else memory) and their open descriptors,
// read from /proc/<pid>/fd. Processes that exit meanwhile are skipped.
func (m *Manager) ProcessCounts(path string) (ProcessCounts, error) {
	rel, err := cleanPath(path)
	if err != nil {
		return ProcessCounts{}, err
	}
	dir := filepath.Join(m.v2root, rel)
	if m.mode != ModeV2 {
		dir = m.v1Dir("pids", rel)
		if !exists(dir) {
			dir = m.v1Dir("memory", rel)
		}
	}
	pids, err := cgroupPids(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ProcessCounts{}, fmt.Errorf("cgroup %s: %w", rel, errdefs.ErrNotFound)
		}
		return ProcessCounts{}, fmt.Errorf("cgroup %s: list processes: %w", rel, err)
	}
	return countDescriptors("/proc", pids), nil
}

// cgroupPids lists the distinct PIDs in cgroup.procs of dir and of every
// cgroup below it, sorted.
func cgroupPids(dir string) ([]int, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // a child cgroup removed while walking
			}
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				seen[pid] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids, nil
}

// countDescriptors counts pids (those still alive under procRoot), their
// descriptors and, among them, sockets ("socket:[inode]" links).
func countDescriptors(procRoot string, pids []int) ProcessCounts {
	var c ProcessCounts
	for _, pid := range pids {
		fdDir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
		entries, err := os.ReadDir(fdDir)
		if err != nil {
			if _, serr := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid))); serr != nil {
				continue // exited
			}
			c.Processes++ // alive, but its fd table is gone (a zombie)
			continue
		}
		c.Processes++
		c.FileDescriptors += uint64(len(entries))
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
				c.Sockets++
			}
		}
	}
	return c
}
