package sandbox

import (
	"fmt"
	"os"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// podCgroup is the cgroup whose counters describe the whole pod: kubelet's
// pod cgroup (the cgroup parent: a path, or a slice name under the systemd
// driver, which the cgroups package expands) when it gave one, else pause's
// own.
func (m *Manager) podCgroup(p store.Pod) string {
	if p.CgroupParent != "" {
		return p.CgroupParent
	}
	return m.cfg.Cgroups.ContainerPath("", p.ID)
}

// Stats returns pod id's own usage: its cgroup (CPU, memory, processes)
// and its network. The caller adds the containers' stats (package
// container owns them).
func (m *Manager) Stats(id string) (*runtime.PodSandboxStats, error) {
	p, err := m.cfg.Pods.Get(id)
	if err != nil {
		return nil, err
	}
	return m.stats(p), nil
}

func (m *Manager) stats(p store.Pod) *runtime.PodSandboxStats {
	linux := &runtime.LinuxPodSandboxStats{Network: networkUsage(p)}
	path := m.podCgroup(p)
	if cs, err := m.cfg.Cgroups.Stats(path); err == nil {
		linux.Cpu, linux.Memory = cgroups.CRIUsage(path, cs)
		linux.Process = &runtime.ProcessUsage{Timestamp: cs.Timestamp.UnixNano(), ProcessCount: &runtime.UInt64Value{Value: cs.PidsCurrent}}
	}
	return &runtime.PodSandboxStats{
		Attributes: &runtime.PodSandboxAttributes{
			Id: p.ID, Metadata: p.Config.GetMetadata(), Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

// ListStats returns the own usage of the pods matching f (see Stats).
func (m *Manager) ListStats(f *runtime.PodSandboxStatsFilter) []*runtime.PodSandboxStats {
	var out []*runtime.PodSandboxStats
	for _, p := range m.cfg.Pods.List() {
		if f != nil && (!store.MatchID(p.ID, f.Id) || !store.MatchLabels(p.Config.GetLabels(), f.LabelSelector)) {
			continue
		}
		out = append(out, m.stats(p))
	}
	return out
}

// ListMetrics returns every pod's pod-level cAdvisor metrics: its
// cgroup's counters and its network's (container_network_*). The caller
// adds the containers' (package container owns them).
func (m *Manager) ListMetrics() []*runtime.PodSandboxMetrics {
	var out []*runtime.PodSandboxMetrics
	for _, p := range m.cfg.Pods.List() {
		out = append(out, &runtime.PodSandboxMetrics{PodSandboxId: p.ID, Metrics: m.metrics(p)})
	}
	return out
}

func (m *Manager) metrics(p store.Pod) []*runtime.Metric {
	md := p.Config.GetMetadata()
	l := cgroups.MetricLabels{Pod: md.GetName(), Namespace: md.GetNamespace(), ID: p.ID}
	var out []*runtime.Metric
	if cs, err := m.cfg.Cgroups.Stats(m.podCgroup(p)); err == nil {
		out = cgroups.Metrics(cs, l, nil)
	}
	if ifaces := netDev(p); ifaces != nil {
		out = append(out, cgroups.NetworkMetrics(ifaces, l, time.Now())...)
	}
	return out
}

// MetricDescriptors names every metric ListMetrics and the containers'
// metrics can return (for ListMetricDescriptors).
func (m *Manager) MetricDescriptors() []*runtime.MetricDescriptor {
	return cgroups.MetricDescriptors()
}

// networkUsage is the CRI summary of the pod's interfaces; nil for a
// host-network pod or one whose pause is gone.
func networkUsage(p store.Pod) *runtime.NetworkUsage {
	ifaces := netDev(p)
	if ifaces == nil {
		return nil
	}
	nu := &runtime.NetworkUsage{Timestamp: time.Now().UnixNano()}
	for _, i := range ifaces {
		iface := &runtime.NetworkInterfaceUsage{
			Name:    i.Name,
			RxBytes: &runtime.UInt64Value{Value: i.RxBytes}, RxErrors: &runtime.UInt64Value{Value: i.RxErrors},
			TxBytes: &runtime.UInt64Value{Value: i.TxBytes}, TxErrors: &runtime.UInt64Value{Value: i.TxErrors},
		}
		if i.Name == "eth0" || nu.DefaultInterface == nil {
			nu.DefaultInterface = iface
		}
		nu.Interfaces = append(nu.Interfaces, iface)
	}
	return nu
}

// netDev reads the pod's interface counters (loopback aside) from
// /proc/<pause>/net/dev, which shows the network namespace of that process:
// no setns needed. Nil for a host-network pod or one whose pause process is
// gone (or a zombie, or a recycled pid).
func netDev(p store.Pod) []cgroups.NetInterface {
	if p.NetNS == "" || !pauseAlive(p) {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", p.PausePid))
	if err != nil {
		return nil
	}
	defer f.Close()
	ifaces, err := cgroups.ParseNetDev(f)
	if err != nil {
		return nil
	}
	if ifaces == nil {
		ifaces = []cgroups.NetInterface{} // a netns with only lo: report it, empty
	}
	return ifaces
}
