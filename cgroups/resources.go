package cgroups

import (
	"maps"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ToOCI turns the resources kubelet asks for into the OCI resources runc
// applies. Zero CRI values mean "not set" and stay unset. It returns nil for a
// nil request.
//
// Swap follows containerd 2.x (internal/cri/opts.WithResources): when kubelet
// sets a memory limit but no swap limit, memory+swap is set equal to the
// memory limit, so a container cannot swap unless kubelet asks for it. On a
// host without swap accounting runc would fail to write the swap limit;
// Manager.DropUnsupported removes it there.
//
// daemonOOMScoreAdj is part of the package contract but has no place in
// LinuxResources: the runtime spec keeps oom_score_adj on the process
// (specs.Process.OOMScoreAdj). Use OOMScoreAdj(r, daemonOOMScoreAdj) for that
// field.
func ToOCI(r *runtime.LinuxContainerResources, daemonOOMScoreAdj int) *specs.LinuxResources {
	_ = daemonOOMScoreAdj // see the doc comment: it belongs to OOMScoreAdj
	if r == nil {
		return nil
	}
	res := &specs.LinuxResources{}

	var cpu specs.LinuxCPU
	if p := r.GetCpuPeriod(); p != 0 {
		period := uint64(p)
		cpu.Period = &period
	}
	if q := r.GetCpuQuota(); q != 0 {
		cpu.Quota = &q
	}
	if s := r.GetCpuShares(); s != 0 {
		shares := uint64(s)
		cpu.Shares = &shares
	}
	cpu.Cpus = r.GetCpusetCpus()
	cpu.Mems = r.GetCpusetMems()
	if cpu.Period != nil || cpu.Quota != nil || cpu.Shares != nil || cpu.Cpus != "" || cpu.Mems != "" {
		res.CPU = &cpu
	}

	limit, swap := r.GetMemoryLimitInBytes(), r.GetMemorySwapLimitInBytes()
	if limit != 0 || swap != 0 {
		res.Memory = &specs.LinuxMemory{}
		if limit != 0 {
			res.Memory.Limit = &limit
		}
		switch {
		case swap != 0:
			res.Memory.Swap = &swap
		case limit != 0:
			// No swap by default: memory+swap equals the memory limit.
			same := limit
			res.Memory.Swap = &same
		}
	}

	for _, h := range r.GetHugepageLimits() {
		if h == nil {
			continue
		}
		res.HugepageLimits = append(res.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}

	// Unified keys are cgroup v2 file names written verbatim by runc; they are
	// meaningless on v1 (Manager.DropUnsupported removes them there).
	if u := r.GetUnified(); len(u) > 0 {
		res.Unified = maps.Clone(u)
	}
	return res
}

// OOMScoreAdj is the oom_score_adj to put in specs.Process.OOMScoreAdj for a
// container asking for r: kubelet's wish, clamped by ClampOOMScoreAdj.
func OOMScoreAdj(r *runtime.LinuxContainerResources, daemonOOMScoreAdj int) int {
	return ClampOOMScoreAdj(int(r.GetOomScoreAdj()), daemonOOMScoreAdj)
}

// ClampOOMScoreAdj returns want, raised to the daemon's own oom_score_adj and
// kept within the kernel's range [-1000, 1000].
//
// Lowering oom_score_adj below the current value needs CAP_SYS_RESOURCE,
// which this host's bounding set lacks: kubelet asks -998 for sandboxes and
// -997 for Guaranteed pods, and runc then fails the whole container with
// "failed to update /proc/self/oom_score_adj: Permission denied". containerd's
// restrict_oom_score_adj does the same clamp.
func ClampOOMScoreAdj(want, daemon int) int {
	clamp := func(v int) int { return min(max(v, -1000), 1000) }
	want, daemon = clamp(want), clamp(daemon)
	if want < daemon {
		return daemon
	}
	return want
}

// FromOCI turns OCI resources back into their CRI form, for ContainerStatus
// and after UpdateContainerResources. It is the inverse of ToOCI: a swap
// limit that ToOCI defaulted to the memory limit is reported as it is in the
// spec, as containerd does. OomScoreAdj lives on the process, not in
// LinuxResources; the caller fills it from specs.Process.OOMScoreAdj. The
// receiver is not used and may be nil.
func (m *Manager) FromOCI(res *specs.LinuxResources) *runtime.LinuxContainerResources {
	if res == nil {
		return nil
	}
	out := &runtime.LinuxContainerResources{}
	if c := res.CPU; c != nil {
		if c.Period != nil {
			out.CpuPeriod = int64(*c.Period)
		}
		if c.Quota != nil {
			out.CpuQuota = *c.Quota
		}
		if c.Shares != nil {
			out.CpuShares = int64(*c.Shares)
		}
		out.CpusetCpus, out.CpusetMems = c.Cpus, c.Mems
	}
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil {
			out.MemoryLimitInBytes = *mem.Limit
		}
		if mem.Swap != nil {
			out.MemorySwapLimitInBytes = *mem.Swap
		}
	}
	for _, h := range res.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, &runtime.HugepageLimit{PageSize: h.Pagesize, Limit: h.Limit})
	}
	if len(res.Unified) > 0 {
		out.Unified = maps.Clone(res.Unified)
	}
	return out
}

// CPUSharesToWeight converts cgroup v1 cpu.shares [2, 262144] to cgroup v2
// cpu.weight [1, 10000] with the linear formula of runc 1.1.5 (the runc on
// this host) and kubelet: 1 + ((shares-2)*9999)/262142. 0 means unset.
//
// containerd/cgroups v3.1.3 uses the newer quadratic mapping of
// opencontainers/cgroups v0.0.5 instead; Krill describes what its runc writes.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	// The kernel clamps v1 shares to [2, 262144]; clamping first also keeps
	// the subtraction from wrapping for shares < 2.
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// V1Files describes the cgroup v1 files (and values) that runc 1.1.5 writes
// for res. Each key is "<controller>.<file>"; the part before the first dot is
// also the name of the v1 hierarchy directory holding it. A map has no order:
// this is a description for stats and tests, not a write sequence (runc orders
// memory.limit_in_bytes and memory.memsw.limit_in_bytes to keep
// memsw >= limit at every step).
func V1Files(res *specs.LinuxResources) map[string]string {
	files := map[string]string{}
	if res == nil {
		return files
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			files["cpu.shares"] = strconv.FormatUint(*c.Shares, 10)
		}
		if c.Quota != nil && *c.Quota != 0 {
			files["cpu.cfs_quota_us"] = strconv.FormatInt(*c.Quota, 10)
		}
		if c.Period != nil && *c.Period != 0 {
			files["cpu.cfs_period_us"] = strconv.FormatUint(*c.Period, 10)
		}
		if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
			files["cpu.rt_period_us"] = strconv.FormatUint(*c.RealtimePeriod, 10)
		}
		if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
			files["cpu.rt_runtime_us"] = strconv.FormatInt(*c.RealtimeRuntime, 10)
		}
		if c.Cpus != "" {
			files["cpuset.cpus"] = c.Cpus
		}
		if c.Mems != "" {
			files["cpuset.mems"] = c.Mems
		}
	}
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil && *mem.Limit != 0 {
			files["memory.limit_in_bytes"] = strconv.FormatInt(*mem.Limit, 10)
		}
		if mem.Swap != nil && *mem.Swap != 0 {
			files["memory.memsw.limit_in_bytes"] = strconv.FormatInt(*mem.Swap, 10)
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			files["memory.soft_limit_in_bytes"] = strconv.FormatInt(*mem.Reservation, 10)
		}
		if mem.Swappiness != nil {
			files["memory.swappiness"] = strconv.FormatUint(*mem.Swappiness, 10)
		}
		if mem.DisableOOMKiller != nil && *mem.DisableOOMKiller {
			files["memory.oom_control"] = "1"
		}
	}
	if v, ok := pidsMax(res.Pids); ok {
		files["pids.max"] = v
	}
	for _, h := range res.HugepageLimits {
		files["hugetlb."+h.Pagesize+".limit_in_bytes"] = strconv.FormatUint(h.Limit, 10)
	}
	return files
}

// V2Files describes the cgroup v2 files (and values) that runc 1.1.5 writes
// for res. Keys are file names in the container's single cgroup directory.
// Unified entries are written last by runc and so win over the mapped ones.
// An invalid swap request (swap below the memory limit, or swap without a
// memory limit) is left out: runc refuses such a container anyway.
func V2Files(res *specs.LinuxResources) map[string]string {
	files := map[string]string{}
	if res == nil {
		return files
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			files["cpu.weight"] = strconv.FormatUint(CPUSharesToWeight(*c.Shares), 10)
		}
		var quota int64
		var period uint64
		if c.Quota != nil {
			quota = *c.Quota
		}
		if c.Period != nil {
			period = *c.Period
		}
		if quota != 0 || period != 0 {
			// "max" means no quota; a missing period keeps the kernel's.
			v := "max"
			if quota > 0 {
				v = strconv.FormatInt(quota, 10)
			}
			if period != 0 {
				v += " " + strconv.FormatUint(period, 10)
			}
			files["cpu.max"] = v
		}
		if c.Cpus != "" {
			files["cpuset.cpus"] = c.Cpus
		}
		if c.Mems != "" {
			files["cpuset.mems"] = c.Mems
		}
	}
	if mem := res.Memory; mem != nil {
		var limit, swap int64
		if mem.Limit != nil {
			limit = *mem.Limit
		}
		if mem.Swap != nil {
			swap = *mem.Swap
		}
		if limit != 0 {
			files["memory.max"] = maxOrNumber(limit)
		}
		if v, ok := v2SwapMax(swap, limit); ok {
			files["memory.swap.max"] = v
		}
		if mem.Reservation != nil && *mem.Reservation != 0 {
			files["memory.low"] = strconv.FormatInt(*mem.Reservation, 10)
		}
	}
	if v, ok := pidsMax(res.Pids); ok {
		files["pids.max"] = v
	}
	for _, h := range res.HugepageLimits {
		files["hugetlb."+h.Pagesize+".max"] = strconv.FormatUint(h.Limit, 10)
	}
	maps.Copy(files, res.Unified)
	return files
}

// v2SwapMax converts OCI's memory+swap total into v2's swap-only
// memory.swap.max, as runc does. ok is false when nothing is written.
func v2SwapMax(swap, limit int64) (string, bool) {
	switch {
	case limit == -1 && swap == 0:
		// v1 compatibility: unlimited memory and unset swap means both
		// unlimited.
		return "max", true
	case swap == -1:
		return "max", true
	case swap == 0:
		return "", false
	case limit <= 0 || swap < limit:
		return "", false
	}
	return strconv.FormatInt(swap-limit, 10), true
}

// pidsMax follows runc 1.1.5: 0 leaves pids.max alone, a negative limit
// means "max".
func pidsMax(p *specs.LinuxPids) (string, bool) {
	if p == nil || p.Limit == nil || *p.Limit == 0 {
		return "", false
	}
	return maxOrNumber(*p.Limit), true
}

func maxOrNumber(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}
