package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cpuacctMount is where this host mounts the cgroup v1 cpuacct hierarchy.
const cpuacctMount = "/sys/fs/cgroup/cpuacct"

// run measures one round: a warm-up pod, the sequential lifecycles, the
// bursts, then the kept pods. Every pod it starts is taken down again,
// also on error.
func (w *workload) run() (*result, error) {
	res := &result{RPCP50: map[string]float64{}, CPUPerPod: math.NaN(), ShimPSS: math.NaN(),
		InfraPSS: math.NaN(), IdleCPU: math.NaN()}
	// The first pod of a runtime may make its bridge or warm caches.
	warm := w.newPod("warm")
	if err := w.start(warm); err != nil {
		w.stopAll([]*pod{warm})
		return nil, err
	}
	if err := w.stop(warm); err != nil {
		return nil, err
	}
	if err := w.sequential(res); err != nil {
		return nil, err
	}
	if err := w.bursts(res); err != nil {
		return nil, err
	}
	if err := w.kept(res); err != nil {
		return nil, err
	}
	return res, nil
}

// cpu is the CPU time the runtime's tree has used so far; ok is false
// without a cgroup to read it from.
func (w *workload) cpu() (time.Duration, bool) {
	if w.Cgroup == "" {
		return 0, false
	}
	d, err := cpuUsage(filepath.Join(cpuacctMount, w.Cgroup))
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		return 0, false
	}
	return d, true
}

// sequential runs Sequential pods through their whole life, one after
// another: latencies per RPC, pod + container ready, full lifecycle, and
// the runtime's CPU per lifecycle.
func (w *workload) sequential(res *result) error {
	var ready, life []time.Duration
	per := map[string][]time.Duration{}
	cpu0, okCPU := w.cpu()
	for i := 0; i < w.Sequential; i++ {
		p := w.newPod(fmt.Sprintf("seq%d", i))
		t0 := time.Now()
		if err := w.start(p); err != nil {
			w.stopAll([]*pod{p})
			return err
		}
		ready = append(ready, time.Since(t0))
		if err := w.stop(p); err != nil {
			return err
		}
		life = append(life, time.Since(t0))
		for k, d := range p.timing {
			per[k] = append(per[k], d)
		}
	}
	if cpu1, ok := w.cpu(); ok && okCPU && w.Sequential > 0 {
		res.CPUPerPod = ms(cpu1-cpu0) / float64(w.Sequential)
	}
	res.ReadyP50, res.LifecycleP50 = ms(p50(ready)), ms(p50(life))
	for k, ds := range per {
		res.RPCP50[k] = ms(p50(ds))
	}
	return nil
}

// bursts starts BurstSize pods at once, Bursts times, and times each until
// all of them run. Taking them down is not measured.
func (w *workload) bursts(res *result) error {
	for b := 0; b < w.Bursts; b++ {
		pods := make([]*pod, w.BurstSize)
		for i := range pods {
			pods[i] = w.newPod(fmt.Sprintf("burst%d-%d", b, i))
		}
		t0 := time.Now()
		err := w.startAll(pods)
		d := time.Since(t0)
		if err2 := w.stopAll(pods); err == nil {
			err = err2
		}
		if err != nil {
			return err
		}
		res.Bursts = append(res.Bursts, ms(d))
	}
	return nil
}

// kept runs Kept pods and, while they run, measures the memory each adds,
// ListContainerStats and the runtime's CPU when nothing is asked of it.
func (w *workload) kept(res *result) error {
	var pods []*pod
	defer func() { w.stopAll(pods) }()
	for i := 0; i < w.Kept; i++ {
		p := w.newPod(fmt.Sprintf("kept%d", i))
		pods = append(pods, p)
		if err := w.start(p); err != nil {
			return err
		}
	}
	// Let start-up work (Go runtimes returning memory, first stats
	// collections) settle before measuring.
	time.Sleep(2 * time.Second)
	if w.Cgroup != "" && w.Kept > 0 {
		shim, infra := w.perPodPSS(pods)
		res.ShimPSS, res.InfraPSS = shim/float64(w.Kept), infra/float64(w.Kept)
	}
	// Idle first: the stats calls' own after-effects are not idle time.
	if c0, ok := w.cpu(); ok {
		t0 := time.Now()
		time.Sleep(w.Idle)
		c1, _ := w.cpu()
		res.IdleCPU = 100 * float64(c1-c0) / float64(time.Since(t0))
	}
	var stats []time.Duration
	for i := 0; i < w.StatsCalls; i++ {
		ctx, cancel := w.ctx()
		t0 := time.Now()
		r, err := w.rt.ListContainerStats(ctx, &runtime.ListContainerStatsRequest{})
		stats = append(stats, time.Since(t0))
		cancel()
		if err != nil {
			return fmt.Errorf("ListContainerStats: %w", err)
		}
		// A runtime answering with fewer stats would look faster than it is.
		if len(r.Stats) < w.Kept {
			return fmt.Errorf("ListContainerStats: %d stats for %d running containers", len(r.Stats), w.Kept)
		}
	}
	res.StatsP50 = ms(p50(stats))
	if err := w.stopAll(pods); err != nil {
		return err
	}
	pods = nil
	return nil
}

// perPodPSS sums, in MiB, the PSS of the shims (the processes directly
// in the runtime's cgroup besides the daemon) and of each pod's processes
// other than its container's (pause, or whatever the runtime keeps per
// pod): the container's own cgroup is the one named after its ID.
func (w *workload) perPodPSS(pods []*pod) (shim, infra float64) {
	var shimKiB, infraKiB int
	for _, pid := range cgroupPIDs(filepath.Join(cpuacctMount, w.Cgroup)) {
		if pid != w.DaemonPID {
			shimKiB += pssKiB(pid)
		}
	}
	for _, p := range pods {
		dir := filepath.Join(cpuacctMount, p.cfg.Linux.CgroupParent)
		subs, err := os.ReadDir(dir)
		if err != nil {
			// A runtime that ignored the cgroup parent: its pods' memory
			// would silently count as 0.
			fmt.Fprintf(os.Stderr, "benchcmp: pod %s has no cgroup at its parent: %v\n", p.name, err)
		}
		for _, s := range subs {
			if !s.IsDir() || strings.Contains(s.Name(), p.ctrID) {
				continue
			}
			for _, pid := range cgroupTreePIDs(filepath.Join(dir, s.Name())) {
				infraKiB += pssKiB(pid)
			}
		}
	}
	return float64(shimKiB) / 1024, float64(infraKiB) / 1024
}
