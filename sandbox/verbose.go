package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/store"
)

// Namespace is one namespace of a process: the kernel identifies a
// namespace by its inode, so two processes share one exactly when the
// inodes match (what `ls -l /proc/<pid>/ns` shows as net:[4026532...]).
type Namespace struct {
	Type  string `json:"type"`
	Path  string `json:"path"`
	Inode uint64 `json:"inode"`
}

// nsKinds are the namespaces shown, in /proc/<pid>/ns order of interest.
var nsKinds = []string{"net", "ipc", "uts", "pid", "mnt", "cgroup", "user"}

// ProcessNamespaces lists the namespaces of pid (none once it is gone).
func ProcessNamespaces(pid int) []Namespace {
	if pid <= 0 {
		return nil
	}
	var out []Namespace
	for _, kind := range nsKinds {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil {
			out = append(out, Namespace{Type: kind, Path: p, Inode: st.Ino})
		}
	}
	return out
}

// CgroupInfo says where a container's cgroup is and how it is managed.
type CgroupInfo struct {
	Path   string `json:"path"`   // cgroupsPath in the OCI spec
	Root   string `json:"root"`   // the cgroup mount, e.g. /sys/fs/cgroup
	Mode   string `json:"mode"`   // v1, hybrid or v2
	Driver string `json:"driver"` // cgroupfs
}

// ImageInfo names the image a container (or pause) runs.
type ImageInfo struct {
	ID  string `json:"id"`
	Ref string `json:"ref,omitempty"` // name@sha256:<manifest digest>
}

// ReadSpec reads an OCI bundle's config.json (nil when it is gone).
func ReadSpec(bundle string) *specs.Spec {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil
	}
	var s specs.Spec
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}

// podInfo is the JSON behind the "info" key of a verbose
// PodSandboxStatus, modelled on containerd's (runtimeSpec, cniResult ...).
type podInfo struct {
	Pid            int                  `json:"pid"`
	NetNS          string               `json:"netns"`
	RuntimeHandler string               `json:"runtimeHandler"`
	Image          ImageInfo            `json:"image"`
	PauseImageID   string               `json:"pauseImageId"`
	CgroupParent   string               `json:"cgroupParent"`
	Cgroup         CgroupInfo           `json:"cgroup"`
	Namespaces     []Namespace          `json:"namespaces"`
	CNIResult      []network.Attachment `json:"cniResult"`
	StartSteps     store.Steps          `json:"startSteps"`
	Config         any                  `json:"config"`
	RuntimeSpec    *specs.Spec          `json:"runtimeSpec,omitempty"` // gone once the pod is stopped
}

// verboseInfo explains a pod: what its pause process and namespaces are,
// what CNI did, and how long each start step took.
func (m *Manager) verboseInfo(ctx context.Context, p store.Pod) (string, error) {
	info := podInfo{
		Pid: p.PausePid, NetNS: p.NetNS, RuntimeHandler: p.Handler,
		Image:        ImageInfo{ID: p.PauseImageID},
		PauseImageID: p.PauseImageID, CgroupParent: p.CgroupParent,
		Cgroup:      m.CgroupInfo(m.cfg.Cgroups.ContainerPath(p.CgroupParent, p.ID)),
		StartSteps:  p.StartSteps,
		Config:      p.Config,
		RuntimeSpec: ReadSpec(m.pauseBundle(p.ID)),
	}
	if img, err := m.cfg.Images.Get(ctx, p.PauseImageID); err == nil && len(img.RepoDigests) > 0 {
		info.Image.Ref = img.RepoDigests[0]
	}
	if pauseAlive(p) {
		info.Namespaces = ProcessNamespaces(p.PausePid)
	}
	if p.NetNS != "" {
		var err error
		if info.CNIResult, err = m.cfg.Network.Attachments(p.ID); err != nil {
			m.cfg.Log.Warn("verbose status: cni result", "pod", p.ID, "err", err)
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", fmt.Errorf("pod %s: encode verbose info: %w", p.ID, err)
	}
	return string(b), nil
}

// CgroupInfo describes the cgroup at path (an OCI cgroupsPath).
func (m *Manager) CgroupInfo(path string) CgroupInfo {
	return CgroupInfo{Path: path, Root: m.cfg.Cgroups.Root(), Mode: m.cfg.Cgroups.Mode(), Driver: "cgroupfs"}
}
