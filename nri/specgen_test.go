package nri

import (
	"slices"
	"testing"

	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/runtime-tools/generate"
	"github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// TestAdjustmentReachesSpec: every kind of adjustment the issue names
// lands in the OCI spec runc gets, and an OOM score below krilld's is
// raised to it.
func TestAdjustmentReachesSpec(t *testing.T) {
	oom := 0
	s := &specs.Spec{
		Process: &specs.Process{Env: []string{"PATH=/bin", "KEEP=1"}, OOMScoreAdj: &oom},
		Linux:   &specs.Linux{CgroupsPath: "/pod/ctr"},
		Mounts:  []specs.Mount{{Destination: "/old", Source: "/x", Type: "bind"}},
	}
	a := &api.ContainerAdjustment{}
	a.AddEnv("PATH", "/usr/bin")
	a.AddEnv("NEW", "2")
	a.AddAnnotation("plugin/seen", "yes")
	a.AddMount(&api.Mount{Destination: "/data", Source: "/srv/data", Type: "bind", Options: []string{"rbind", "ro"}})
	a.RemoveMount("/old")
	a.AddDevice(&api.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229})
	a.AddRlimit("RLIMIT_NOFILE", 4096, 1024)
	a.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: "/bin/true"}}})
	a.SetLinuxMemoryLimit(64 << 20)
	a.SetLinuxCPUShares(512)
	a.SetLinuxCPUSetCPUs("0")
	a.SetLinuxCgroupsPath("/plugin/ctr")
	low := -999
	a.SetLinuxOomScoreAdj(&low)

	if err := generate.SpecGenerator(&specGen{s}).Adjust(a); err != nil {
		t.Fatal(err)
	}
	svc := &Service{Deps: Deps{DaemonOOMScoreAdj: -500}}
	svc.clampOOMScore(s)

	if want := []string{"PATH=/usr/bin", "KEEP=1", "NEW=2"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env = %v, want %v", s.Process.Env, want)
	}
	if s.Annotations["plugin/seen"] != "yes" {
		t.Errorf("annotations = %v", s.Annotations)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Destination != "/data" {
		t.Errorf("mounts = %+v, want only /data", s.Mounts)
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/fuse" {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	if len(s.Process.Rlimits) != 1 || s.Process.Rlimits[0] != (specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Hard: 4096, Soft: 1024}) {
		t.Errorf("rlimits = %+v", s.Process.Rlimits)
	}
	//lint:ignore SA1019 NRI still sends prestart hooks
	if s.Hooks == nil || len(s.Hooks.Prestart) != 1 {
		t.Errorf("hooks = %+v", s.Hooks)
	}
	r := s.Linux.Resources
	if r == nil || *r.Memory.Limit != 64<<20 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0" {
		t.Errorf("resources = %+v", r)
	}
	if s.Linux.CgroupsPath != "/plugin/ctr" {
		t.Errorf("cgroups path = %s", s.Linux.CgroupsPath)
	}
	if *s.Process.OOMScoreAdj != -500 {
		t.Errorf("oom_score_adj = %d, want krilld's -500", *s.Process.OOMScoreAdj)
	}
}

// TestNamespaceAdjustmentRefused: even without the validator, the spec
// editor refuses to touch namespaces.
func TestNamespaceAdjustmentRefused(t *testing.T) {
	s := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/netns/pod"}}}}
	a := &api.ContainerAdjustment{}
	a.RemoveNamespace(&api.LinuxNamespace{Type: "network"})
	if err := generate.SpecGenerator(&specGen{s}).Adjust(a); err == nil {
		t.Fatal("removing the network namespace was allowed")
	}
	if len(s.Linux.Namespaces) != 1 {
		t.Errorf("namespaces = %+v", s.Linux.Namespaces)
	}
}

// TestContainerToNRI: plugins see a container's record and spec, with the
// limits the record says are in force.
func TestContainerToNRI(t *testing.T) {
	adj := 3
	c := store.Container{
		ID: "c1", PodID: "p1", State: runtime.ContainerState_CONTAINER_EXITED, ExitCode: 2, Pid: 42,
		Config:    &runtime.ContainerConfig{Metadata: &runtime.ContainerMetadata{Name: "app"}, Labels: map[string]string{"l": "v"}},
		Resources: &runtime.LinuxContainerResources{MemoryLimitInBytes: 128 << 20},
	}
	limit := int64(64 << 20)
	s := &specs.Spec{
		Process: &specs.Process{Args: []string{"sleep", "1"}, Env: []string{"A=1"}, OOMScoreAdj: &adj},
		Linux: &specs.Linux{CgroupsPath: "/pod/c1", Resources: &specs.LinuxResources{
			Memory:  &specs.LinuxMemory{Limit: &limit},
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		}},
	}
	got := containerToNRI(c, s)
	if got.Name != "app" || got.PodSandboxId != "p1" || got.State != api.ContainerState_CONTAINER_STOPPED || got.ExitCode != 2 || got.Pid != 42 {
		t.Errorf("identity/state = %+v", got)
	}
	if got.Labels["l"] != "v" || !slices.Equal(got.Args, []string{"sleep", "1"}) || !slices.Equal(got.Env, []string{"A=1"}) {
		t.Errorf("labels/args/env = %v %v %v", got.Labels, got.Args, got.Env)
	}
	if got.GetLinux().GetResources().GetMemory().GetLimit().GetValue() != 128<<20 {
		t.Errorf("memory limit = %v, want the record's 128 MiB", got.GetLinux().GetResources().GetMemory())
	}
	if got.GetLinux().GetCgroupsPath() != "/pod/c1" || got.GetLinux().GetOomScoreAdj().GetValue() != 3 {
		t.Errorf("linux = %+v", got.Linux)
	}
	if limit != 64<<20 {
		t.Error("containerToNRI changed the spec it read")
	}
}
