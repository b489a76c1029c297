package e2e

import (
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodStatsAndMetrics: a pod's stats carry its own cgroup usage, its
// network (eth0 from the pause process' net/dev) and its containers';
// ListPodSandboxMetrics has the pod-level network counters and the
// container's cgroup metrics. The pod side comes from package sandbox,
// the containers' from package container.
func TestPodStatsAndMetrics(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("stats")
	ctr := e.container(podID, podCfg, "c", []string{"sleep", "3600"})

	r, err := e.rt.PodSandboxStats(e.ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	l := r.GetStats().GetLinux()
	if r.GetStats().GetAttributes().GetId() != podID || l.GetCpu() == nil || l.GetMemory().GetWorkingSetBytes() == nil {
		t.Fatalf("pod usage missing: %v", r.GetStats())
	}
	if n := l.GetNetwork().GetDefaultInterface(); n.GetName() != "eth0" {
		t.Fatalf("default interface %v, want eth0", l.GetNetwork())
	}
	if len(l.GetContainers()) != 1 || l.GetContainers()[0].GetAttributes().GetId() != ctr {
		t.Fatalf("containers %v, want only %s", l.GetContainers(), ctr)
	}

	list, err := e.rt.ListPodSandboxStats(e.ctx(), &runtime.ListPodSandboxStatsRequest{Filter: &runtime.PodSandboxStatsFilter{Id: podID}})
	if err != nil || len(list.GetStats()) != 1 || len(list.GetStats()[0].GetLinux().GetContainers()) != 1 {
		t.Fatalf("ListPodSandboxStats: %v, %v", list, err)
	}

	m, err := e.rt.ListPodSandboxMetrics(e.ctx(), &runtime.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var pod *runtime.PodSandboxMetrics
	for _, pm := range m.GetPodMetrics() {
		if pm.GetPodSandboxId() == podID {
			pod = pm
		}
	}
	if pod == nil {
		t.Fatalf("no metrics for pod %s", podID)
	}
	names := map[string]bool{}
	for _, x := range pod.GetMetrics() {
		names[x.GetName()] = true
	}
	if !names["container_network_receive_bytes_total"] || !names["container_memory_working_set_bytes"] {
		t.Fatalf("pod-level metrics lack network or cgroup counters: %v", names)
	}
	if len(pod.GetContainerMetrics()) != 1 || pod.GetContainerMetrics()[0].GetContainerId() != ctr || len(pod.GetContainerMetrics()[0].GetMetrics()) == 0 {
		t.Fatalf("container metrics %v", pod.GetContainerMetrics())
	}
}
