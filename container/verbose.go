package container

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
)

// ctrInfo is the JSON behind the "info" key of a verbose ContainerStatus,
// modelled on containerd's (sandboxID, pid, config, runtimeSpec ...).
type ctrInfo struct {
	SandboxID      string              `json:"sandboxID"`
	Pid            int                 `json:"pid"`               // the container's init, as runc started it
	ShimPid        int                 `json:"shimPid,omitempty"` // krill-shim, while it runs
	RuntimeHandler string              `json:"runtimeHandler"`
	Image          sandbox.ImageInfo   `json:"image"`
	Bundle         string              `json:"bundle"`
	CgroupsPath    string              `json:"cgroupsPath"`
	Cgroup         sandbox.CgroupInfo  `json:"cgroup"`
	Namespaces     []sandbox.Namespace `json:"namespaces"`
	CreateSteps    store.Steps         `json:"createSteps"`
	Config         any                 `json:"config"`
	RuntimeSpec    *specs.Spec         `json:"runtimeSpec,omitempty"` // gone once the container is removed
}

// verboseInfo explains a container: its OCI spec, processes, namespaces,
// cgroup, image and how long each create step took.
func (m *Manager) verboseInfo(ctx context.Context, c store.Container) (string, error) {
	info := ctrInfo{
		SandboxID: c.PodID, Pid: c.Pid,
		Image:       sandbox.ImageInfo{ID: c.ImageID, Ref: c.ImageRef},
		Bundle:      c.Bundle,
		CgroupsPath: c.CgroupsPath,
		Cgroup:      m.cfg.Sandboxes.CgroupInfo(c.CgroupsPath),
		CreateSteps: c.CreateSteps,
		Config:      c.Config,
		RuntimeSpec: sandbox.ReadSpec(c.Bundle),
	}
	if pod, err := m.cfg.Sandboxes.Get(c.PodID); err == nil {
		info.RuntimeHandler = pod.Handler
	}
	if rt, err := m.runtime(c); err == nil {
		if pid, ok := rt.ShimPid(c.ID); ok {
			info.ShimPid = pid
		}
		if rt.Exited(c.ID) == nil {
			info.Namespaces = sandbox.ProcessNamespaces(c.Pid)
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("container %s: encode verbose info: %w", c.ID, err)
	}
	return string(b), nil
}
