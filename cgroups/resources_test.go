package cgroups

import (
	"fmt"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }

// kubelet's request for a container with requests cpu 250m / memory 64Mi and
// limits cpu 500m / memory 128Mi (Burstable).
var burstable = &runtime.LinuxContainerResources{
	CpuShares:          256,
	CpuQuota:           50000,
	CpuPeriod:          100000,
	MemoryLimitInBytes: 134217728,
	OomScoreAdj:        968,
}

func TestToOCI(t *testing.T) {
	tests := []struct {
		name string
		in   *runtime.LinuxContainerResources
		want *specs.LinuxResources
	}{
		{"nil", nil, nil},
		{"empty", &runtime.LinuxContainerResources{}, &specs.LinuxResources{}},
		{
			name: "burstable 250m/500m 64Mi/128Mi: swap defaults to the memory limit",
			in:   burstable,
			want: &specs.LinuxResources{
				CPU:    &specs.LinuxCPU{Shares: u64(256), Quota: i64(50000), Period: u64(100000)},
				Memory: &specs.LinuxMemory{Limit: i64(134217728), Swap: i64(134217728)},
			},
		},
		{
			name: "best effort: shares only",
			in:   &runtime.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000},
			want: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(2)}},
		},
		{
			name: "explicit swap wins",
			in:   &runtime.LinuxContainerResources{MemoryLimitInBytes: 100 << 20, MemorySwapLimitInBytes: 300 << 20},
			want: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(300 << 20)}},
		},
		{
			name: "unlimited swap",
			in:   &runtime.LinuxContainerResources{MemoryLimitInBytes: 100 << 20, MemorySwapLimitInBytes: -1},
			want: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(-1)}},
		},
		{
			name: "cpuset, hugepages, unified",
			in: &runtime.LinuxContainerResources{
				CpusetCpus: "0-1", CpusetMems: "0",
				HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 0}, nil, {PageSize: "1GB", Limit: 1 << 30}},
				Unified:        map[string]string{"memory.high": "1000000"},
			},
			want: &specs.LinuxResources{
				CPU:            &specs.LinuxCPU{Cpus: "0-1", Mems: "0"},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}, {Pagesize: "1GB", Limit: 1 << 30}},
				Unified:        map[string]string{"memory.high": "1000000"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToOCI(tt.in, 0)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ToOCI:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestToOCICopiesUnified(t *testing.T) {
	in := &runtime.LinuxContainerResources{Unified: map[string]string{"a": "1"}}
	out := ToOCI(in, 0)
	out.Unified["a"] = "2"
	if in.Unified["a"] != "1" {
		t.Fatal("ToOCI aliased the request's unified map")
	}
}

func TestClampOOMScoreAdj(t *testing.T) {
	tests := []struct{ want, daemon, got int }{
		{-998, 0, 0},    // sandbox
		{-997, 0, 0},    // Guaranteed
		{968, 0, 968},   // Burstable
		{1000, 0, 1000}, // BestEffort
		{-998, -999, -998},
		{-500, -500, -500},
		{5000, 0, 1000},
		{-5000, -2000, -1000},
		{10, 300, 300},
	}
	for _, tt := range tests {
		if got := ClampOOMScoreAdj(tt.want, tt.daemon); got != tt.got {
			t.Errorf("ClampOOMScoreAdj(%d, %d) = %d, want %d", tt.want, tt.daemon, got, tt.got)
		}
	}
	if got := OOMScoreAdj(&runtime.LinuxContainerResources{OomScoreAdj: -997}, 0); got != 0 {
		t.Errorf("OOMScoreAdj(-997, daemon 0) = %d, want 0", got)
	}
	if got := OOMScoreAdj(nil, 7); got != 7 {
		t.Errorf("OOMScoreAdj(nil, daemon 7) = %d, want 7", got)
	}
}

func TestCPUSharesToWeight(t *testing.T) {
	tests := []struct{ shares, weight uint64 }{
		{0, 0}, {1, 1}, {2, 1}, {256, 10}, {1024, 39}, {262144, 10000}, {1 << 20, 10000},
	}
	for _, tt := range tests {
		if got := CPUSharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
}

func TestV1Files(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want map[string]string
	}{
		{"nil", nil, map[string]string{}},
		{
			name: "burstable 250m/500m 64Mi/128Mi",
			res:  ToOCI(burstable, 0),
			want: map[string]string{
				"cpu.shares":                  "256",
				"cpu.cfs_quota_us":            "50000",
				"cpu.cfs_period_us":           "100000",
				"memory.limit_in_bytes":       "134217728",
				"memory.memsw.limit_in_bytes": "134217728",
			},
		},
		{
			name: "everything",
			res: &specs.LinuxResources{
				CPU:            &specs.LinuxCPU{Cpus: "1", Mems: "0", Quota: i64(-1), RealtimePeriod: u64(1000000), RealtimeRuntime: i64(950000)},
				Memory:         &specs.LinuxMemory{Reservation: i64(1 << 20), Swappiness: u64(0), DisableOOMKiller: boolp(true)},
				Pids:           &specs.LinuxPids{Limit: i64(-1)},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
			},
			want: map[string]string{
				"cpuset.cpus":                "1",
				"cpuset.mems":                "0",
				"cpu.cfs_quota_us":           "-1",
				"cpu.rt_period_us":           "1000000",
				"cpu.rt_runtime_us":          "950000",
				"memory.soft_limit_in_bytes": "1048576",
				"memory.swappiness":          "0",
				"memory.oom_control":         "1",
				"pids.max":                   "max",
				"hugetlb.2MB.limit_in_bytes": "4194304",
			},
		},
		{
			name: "pids 0 is left alone",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			want: map[string]string{},
		},
		{
			name: "pids limit",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}},
			want: map[string]string{"pids.max": "100"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := V1Files(tt.res); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("V1Files:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestV2Files(t *testing.T) {
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want map[string]string
	}{
		{"nil", nil, map[string]string{}},
		{
			name: "burstable 250m/500m 64Mi/128Mi",
			res:  ToOCI(burstable, 0),
			want: map[string]string{
				"cpu.weight":      "10",
				"cpu.max":         "50000 100000",
				"memory.max":      "134217728",
				"memory.swap.max": "0",
			},
		},
		{
			name: "quota without period keeps the kernel's period",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000)}},
			want: map[string]string{"cpu.max": "20000"},
		},
		{
			name: "period without quota",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000), Quota: i64(-1)}},
			want: map[string]string{"cpu.max": "max 50000"},
		},
		{
			name: "swap is swap only on v2",
			res:  ToOCI(&runtime.LinuxContainerResources{MemoryLimitInBytes: 100, MemorySwapLimitInBytes: 300}, 0),
			want: map[string]string{"memory.max": "100", "memory.swap.max": "200"},
		},
		{
			name: "unlimited memory and swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			want: map[string]string{"memory.max": "max", "memory.swap.max": "max"},
		},
		{
			name: "swap below limit is invalid and left out",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(300), Swap: i64(100)}},
			want: map[string]string{"memory.max": "300"},
		},
		{
			name: "swap without a memory limit is left out",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}},
			want: map[string]string{},
		},
		{
			name: "cpuset, reservation, pids, hugetlb, unified overrides",
			res: &specs.LinuxResources{
				CPU:            &specs.LinuxCPU{Cpus: "0-1", Mems: "0", Shares: u64(1024)},
				Memory:         &specs.LinuxMemory{Limit: i64(1 << 30), Reservation: i64(1 << 20)},
				Pids:           &specs.LinuxPids{Limit: i64(64)},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}},
				Unified:        map[string]string{"memory.high": "900000000", "cpu.weight": "50"},
			},
			want: map[string]string{
				"cpuset.cpus":     "0-1",
				"cpuset.mems":     "0",
				"cpu.weight":      "50",
				"memory.max":      "1073741824",
				"memory.low":      "1048576",
				"pids.max":        "64",
				"hugetlb.2MB.max": "0",
				"memory.high":     "900000000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := V2Files(tt.res); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("V2Files:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestFromOCI(t *testing.T) {
	var m *Manager // FromOCI does not need host state
	tests := []struct {
		name string
		res  *specs.LinuxResources
		want *runtime.LinuxContainerResources
	}{
		{"nil", nil, nil},
		{"empty", &specs.LinuxResources{}, &runtime.LinuxContainerResources{}},
		{
			name: "burstable round trip (swap as in the spec)",
			res:  ToOCI(burstable, 0),
			want: &runtime.LinuxContainerResources{
				CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000,
				MemoryLimitInBytes: 134217728, MemorySwapLimitInBytes: 134217728,
			},
		},
		{
			name: "cpuset, hugepages, unified",
			res: &specs.LinuxResources{
				CPU:            &specs.LinuxCPU{Cpus: "0", Mems: "0"},
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}},
				Unified:        map[string]string{"memory.high": "5"},
			},
			want: &runtime.LinuxContainerResources{
				CpusetCpus: "0", CpusetMems: "0",
				HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 2 << 20}},
				Unified:        map[string]string{"memory.high": "5"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.FromOCI(tt.res)
			if (got == nil) != (tt.want == nil) || (got != nil && got.String() != tt.want.String()) {
				t.Fatalf("FromOCI:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func boolp(b bool) *bool { return &b }

func dump(r *specs.LinuxResources) string {
	if r == nil {
		return "<nil>"
	}
	s := "{"
	if r.CPU != nil {
		s += " CPU:" + reflectString(*r.CPU)
	}
	if r.Memory != nil {
		s += " Memory:" + reflectString(*r.Memory)
	}
	s += " Huge:" + reflectString(r.HugepageLimits) + " Unified:" + reflectString(r.Unified) + " }"
	return s
}

func reflectString(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Struct {
		return fmtAny(v)
	}
	out := "{"
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				continue
			}
			f = f.Elem()
		}
		if f.IsZero() && rv.Field(i).Kind() != reflect.Pointer {
			continue
		}
		out += " " + rv.Type().Field(i).Name + "=" + fmtAny(f.Interface())
	}
	return out + " }"
}

func fmtAny(v any) string { return fmt.Sprint(v) }
