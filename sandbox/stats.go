package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// PodCgroup is the cgroup whose counters describe the whole pod: kubelet's
// pod cgroup (the cgroup parent: a path, or a slice name under the systemd
// driver, which the cgroups package expands) when it gave one, else pause's
// own.
func (m *Manager) PodCgroup(p store.Pod) string {
	if p.CgroupParent != "" {
		return p.CgroupParent
	}
	return m.Cgroups.ContainerPath("", p.ID)
}

// NetworkStats reads the pod's interface counters from
// /proc/<pause>/net/dev, which shows the network namespace of that process:
// no setns needed.
func NetworkStats(p store.Pod) *runtime.NetworkUsage {
	if p.NetNS == "" || !pauseAlive(p) {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/dev", p.PausePid))
	if err != nil {
		return nil
	}
	defer f.Close()
	nu := &runtime.NetworkUsage{Timestamp: time.Now().UnixNano()}
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" || strings.Contains(name, "|") {
			continue
		}
		v := strings.Fields(rest)
		if len(v) < 12 {
			continue
		}
		n := func(i int) *runtime.UInt64Value {
			x, _ := strconv.ParseUint(v[i], 10, 64)
			return &runtime.UInt64Value{Value: x}
		}
		iface := &runtime.NetworkInterfaceUsage{Name: name, RxBytes: n(0), RxErrors: n(2), TxBytes: n(8), TxErrors: n(10)}
		if name == "eth0" || nu.DefaultInterface == nil {
			nu.DefaultInterface = iface
		}
		nu.Interfaces = append(nu.Interfaces, iface)
	}
	return nu
}
