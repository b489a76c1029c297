package nri

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// specGen is the small OCI spec editor NRI's generate package drives to
// apply an adjustment (its UnderlyingGenerator interface). It stands in
// for runtime-tools' generator, as containerd's does, so Krill does not
// carry that module for a few dozen setters.
type specGen struct{ s *specs.Spec }

func (g *specGen) Spec() *specs.Spec { return g.s }

func (g *specGen) process() *specs.Process {
	if g.s.Process == nil {
		g.s.Process = &specs.Process{}
	}
	return g.s.Process
}

func (g *specGen) linux() *specs.Linux {
	if g.s.Linux == nil {
		g.s.Linux = &specs.Linux{}
	}
	return g.s.Linux
}

func (g *specGen) resources() *specs.LinuxResources {
	l := g.linux()
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	return l.Resources
}

func (g *specGen) cpu() *specs.LinuxCPU {
	r := g.resources()
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	return r.CPU
}

func (g *specGen) memory() *specs.LinuxMemory {
	r := g.resources()
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	return r.Memory
}

func (g *specGen) hooks() *specs.Hooks {
	if g.s.Hooks == nil {
		g.s.Hooks = &specs.Hooks{}
	}
	return g.s.Hooks
}

func (g *specGen) AddAnnotation(k, v string) {
	if g.s.Annotations == nil {
		g.s.Annotations = map[string]string{}
	}
	g.s.Annotations[k] = v
}

func (g *specGen) RemoveAnnotation(k string) { delete(g.s.Annotations, k) }

func (g *specGen) AddDevice(d specs.LinuxDevice) {
	l := g.linux()
	if i := slices.IndexFunc(l.Devices, func(x specs.LinuxDevice) bool { return x.Path == d.Path }); i >= 0 {
		l.Devices[i] = d
		return
	}
	l.Devices = append(l.Devices, d)
}

func (g *specGen) RemoveDevice(path string) {
	l := g.linux()
	l.Devices = slices.DeleteFunc(l.Devices, func(x specs.LinuxDevice) bool { return x.Path == path })
}

// Namespace changes are refused by the validator before they get here
// (rules.go); these two only keep the interface whole.
func (g *specGen) AddOrReplaceLinuxNamespace(ns, path string) error {
	return fmt.Errorf("namespace %s: adjusting namespaces is not allowed", ns)
}

func (g *specGen) RemoveLinuxNamespace(ns string) error {
	return fmt.Errorf("namespace %s: adjusting namespaces is not allowed", ns)
}

func (g *specGen) AddPreStartHook(h specs.Hook) {
	//lint:ignore SA1019 NRI still sends them
	g.hooks().Prestart = append(g.hooks().Prestart, h)
}
func (g *specGen) AddPostStartHook(h specs.Hook) {
	g.hooks().Poststart = append(g.hooks().Poststart, h)
}
func (g *specGen) AddPostStopHook(h specs.Hook) { g.hooks().Poststop = append(g.hooks().Poststop, h) }

func (g *specGen) AddProcessEnv(name, value string) {
	if name == "" {
		return
	}
	p := g.process()
	kv := name + "=" + value
	if i := slices.IndexFunc(p.Env, func(e string) bool { return strings.HasPrefix(e, name+"=") }); i >= 0 {
		p.Env[i] = kv
		return
	}
	p.Env = append(p.Env, kv)
}

func (g *specGen) ClearProcessEnv()                  { g.process().Env = []string{} }
func (g *specGen) SetProcessArgs(args []string)      { g.process().Args = args }
func (g *specGen) SetProcessOOMScoreAdj(adj int)     { g.process().OOMScoreAdj = &adj }
func (g *specGen) AddMount(m specs.Mount)            { g.s.Mounts = append(g.s.Mounts, m) }
func (g *specGen) ClearMounts()                      { g.s.Mounts = []specs.Mount{} }
func (g *specGen) Mounts() []specs.Mount             { return g.s.Mounts }
func (g *specGen) SetLinuxCgroupsPath(p string)      { g.linux().CgroupsPath = p }
func (g *specGen) SetLinuxResourcesCPUCpus(c string) { g.cpu().Cpus = c }
func (g *specGen) SetLinuxResourcesCPUMems(m string) { g.cpu().Mems = m }

func (g *specGen) RemoveMount(dest string) {
	if i := slices.IndexFunc(g.s.Mounts, func(m specs.Mount) bool { return m.Destination == dest }); i >= 0 {
		g.s.Mounts = slices.Delete(g.s.Mounts, i, i+1)
	}
}

func (g *specGen) AddLinuxSysctl(k, v string) {
	l := g.linux()
	if l.Sysctl == nil {
		l.Sysctl = map[string]string{}
	}
	l.Sysctl[k] = v
}

func (g *specGen) RemoveLinuxSysctl(k string) { delete(g.linux().Sysctl, k) }

func (g *specGen) SetLinuxRootPropagation(rp string) error {
	switch rp {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
		g.linux().RootfsPropagation = rp
		return nil
	}
	return fmt.Errorf("rootfs propagation %q is not a mount propagation", rp)
}

func (g *specGen) AddLinuxResourcesDevice(allow bool, typ string, major, minor *int64, access string) {
	r := g.resources()
	r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access})
}

func (g *specGen) AddLinuxResourcesHugepageLimit(size string, limit uint64) {
	r := g.resources()
	if i := slices.IndexFunc(r.HugepageLimits, func(h specs.LinuxHugepageLimit) bool { return h.Pagesize == size }); i >= 0 {
		r.HugepageLimits[i].Limit = limit
		return
	}
	r.HugepageLimits = append(r.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: size, Limit: limit})
}

func (g *specGen) AddLinuxResourcesUnified(k, v string) {
	r := g.resources()
	if r.Unified == nil {
		r.Unified = map[string]string{}
	}
	r.Unified[k] = v
}

func (g *specGen) SetLinuxResourcesCPUShares(v uint64)         { g.cpu().Shares = &v }
func (g *specGen) SetLinuxResourcesCPUQuota(v int64)           { g.cpu().Quota = &v }
func (g *specGen) SetLinuxResourcesCPUPeriod(v uint64)         { g.cpu().Period = &v }
func (g *specGen) SetLinuxResourcesCPURealtimeRuntime(v int64) { g.cpu().RealtimeRuntime = &v }
func (g *specGen) SetLinuxResourcesCPURealtimePeriod(v uint64) { g.cpu().RealtimePeriod = &v }
func (g *specGen) SetLinuxResourcesMemoryLimit(v int64)        { g.memory().Limit = &v }
func (g *specGen) SetLinuxResourcesMemorySwap(v int64)         { g.memory().Swap = &v }
