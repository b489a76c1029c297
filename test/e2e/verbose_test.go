package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// nsInfo is one entry of the "namespaces" list in verbose info.
type nsInfo struct {
	Type  string `json:"type"`
	Path  string `json:"path"`
	Inode uint64 `json:"inode"`
}

func inodeOf(ns []nsInfo, kind string) uint64 {
	for _, n := range ns {
		if n.Type == kind {
			return n.Inode
		}
	}
	return 0
}

type stepInfo struct {
	Name string `json:"name"`
}

func stepNames(steps []stepInfo) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return out
}

// TestVerboseStatusExplainsPodAndContainer checks what `crictl inspectp`,
// `crictl inspect` and `crictl info` show against the host itself: the
// namespace inodes are those of the netns file and the processes, the
// cgroup exists, the CNI result names the pod's IP.
func TestVerboseStatusExplainsPodAndContainer(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("verbose")
	ctrID := e.container(podID, podCfg, "sleeper", []string{"sleep", "3600"})

	pr, err := e.rt.PodSandboxStatus(e.ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var pod struct {
		Pid            int    `json:"pid"`
		NetNS          string `json:"netns"`
		RuntimeHandler string `json:"runtimeHandler"`
		Image          struct{ ID, Ref string }
		Cgroup         struct{ Path, Root, Mode, Driver string }
		Namespaces     []nsInfo
		CNIResult      []struct {
			IfName string `json:"ifName"`
			Result struct {
				Interfaces []struct{ Name, Sandbox string }
				IPs        []struct{ Address, Gateway string }
				Routes     []struct{ Dst string }
			}
		} `json:"cniResult"`
		StartSteps  []stepInfo `json:"startSteps"`
		RuntimeSpec *struct {
			Process struct{ Args []string }
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(pr.Info["info"]), &pod); err != nil {
		t.Fatalf("pod info: %v\n%s", err, pr.Info["info"])
	}
	var netnsFile syscall.Stat_t
	if err := syscall.Stat(pod.NetNS, &netnsFile); err != nil {
		t.Fatal(err)
	}
	if got := inodeOf(pod.Namespaces, "net"); got == 0 || got != netnsFile.Ino {
		t.Errorf("pause's net namespace inode %d, netns file %s has %d", got, pod.NetNS, netnsFile.Ino)
	}
	if pod.RuntimeSpec == nil || len(pod.RuntimeSpec.Process.Args) == 0 {
		t.Errorf("no pause runtimeSpec: %s", pr.Info["info"])
	}
	if pod.Cgroup.Driver != "cgroupfs" || !strings.Contains(pod.Cgroup.Path, podID) {
		t.Errorf("pod cgroup %+v", pod.Cgroup)
	}
	if len(pod.CNIResult) != 1 || pod.CNIResult[0].IfName != "eth0" || len(pod.CNIResult[0].Result.IPs) == 0 ||
		!strings.HasPrefix(pod.CNIResult[0].Result.IPs[0].Address, pr.Status.Network.Ip+"/") || len(pod.CNIResult[0].Result.Routes) == 0 {
		t.Errorf("cniResult %+v does not name IP %s with a route", pod.CNIResult, pr.Status.Network.Ip)
	}
	if names := stepNames(pod.StartSteps); !slices.Contains(names, "netns") || !slices.Contains(names, "cni") || !slices.Contains(names, "pause") {
		t.Errorf("start steps %v", names)
	}
	if pod.Image.ID == "" {
		t.Error("no pause image id")
	}

	cr, err := e.rt.ContainerStatus(e.ctx(), &runtime.ContainerStatusRequest{ContainerId: ctrID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var ctr struct {
		SandboxID   string `json:"sandboxID"`
		Pid         int    `json:"pid"`
		ShimPid     int    `json:"shimPid"`
		Image       struct{ ID, Ref string }
		CgroupsPath string `json:"cgroupsPath"`
		Cgroup      struct{ Path, Root, Mode, Driver string }
		Namespaces  []nsInfo
		CreateSteps []stepInfo `json:"createSteps"`
		RuntimeSpec *struct {
			Process struct{ Args []string }
			Linux   struct{ CgroupsPath string }
		} `json:"runtimeSpec"`
	}
	if err := json.Unmarshal([]byte(cr.Info["info"]), &ctr); err != nil {
		t.Fatalf("container info: %v\n%s", err, cr.Info["info"])
	}
	if ctr.SandboxID != podID || ctr.RuntimeSpec == nil || !slices.Equal(ctr.RuntimeSpec.Process.Args, []string{"sleep", "3600"}) {
		t.Errorf("container info: sandbox %s, spec %+v", ctr.SandboxID, ctr.RuntimeSpec)
	}
	if inodeOf(ctr.Namespaces, "net") != netnsFile.Ino || inodeOf(ctr.Namespaces, "ipc") != inodeOf(pod.Namespaces, "ipc") {
		t.Errorf("container does not share the pod's net/ipc namespaces: %+v vs %+v", ctr.Namespaces, pod.Namespaces)
	}
	if inodeOf(ctr.Namespaces, "mnt") == inodeOf(pod.Namespaces, "mnt") {
		t.Error("container shares pause's mount namespace")
	}
	if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ctr.ShimPid)); ctr.ShimPid <= 0 || !strings.Contains(string(cmd), "krill-shim") {
		t.Errorf("shimPid %d is not a krill-shim (%q)", ctr.ShimPid, cmd)
	}
	// `runc start` returns once the init is released; its exec of the
	// command follows a moment later (runc:[2:INIT] until then).
	var comm []byte
	testregistry.WaitFor(5*time.Second, func() bool {
		comm, _ = os.ReadFile(fmt.Sprintf("/proc/%d/comm", ctr.Pid))
		return strings.TrimSpace(string(comm)) == "sleep"
	})
	if strings.TrimSpace(string(comm)) != "sleep" {
		t.Errorf("pid %d is %q, not the container's sleep", ctr.Pid, comm)
	}
	if ctr.Cgroup.Path != ctr.CgroupsPath || ctr.RuntimeSpec.Linux.CgroupsPath != ctr.CgroupsPath || ctr.Cgroup.Driver != "cgroupfs" {
		t.Errorf("cgroup %+v, cgroupsPath %s, spec %s", ctr.Cgroup, ctr.CgroupsPath, ctr.RuntimeSpec.Linux.CgroupsPath)
	}
	procs := filepath.Join(ctr.Cgroup.Root, "pids", ctr.CgroupsPath, "cgroup.procs")
	if ctr.Cgroup.Mode == "v2" {
		procs = filepath.Join(ctr.Cgroup.Root, ctr.CgroupsPath, "cgroup.procs")
	}
	if b, err := os.ReadFile(procs); err != nil || !strings.Contains(string(b), fmt.Sprint(ctr.Pid)) {
		t.Errorf("%s does not list pid %d: %q %v", procs, ctr.Pid, b, err)
	}
	if !strings.Contains(ctr.Image.Ref, "@sha256:") || !strings.HasPrefix(ctr.Image.ID, "sha256:") {
		t.Errorf("image %+v", ctr.Image)
	}
	if names := stepNames(ctr.CreateSteps); !slices.Equal(names, []string{"rootfs", "spec"}) {
		t.Errorf("create steps %v", names)
	}

	sr, err := e.rt.Status(e.ctx(), &runtime.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var cni struct {
		ConfigFile string `json:"configFile"`
		Network    string
		Plugins    []string
		Status     struct{ Ready bool }
	}
	if err := json.Unmarshal([]byte(sr.Info["cniconfig"]), &cni); err != nil {
		t.Fatalf("cniconfig: %v\n%v", err, sr.Info)
	}
	if filepath.Base(cni.ConfigFile) != "10-e2e.conflist" || cni.Network != "e2e" || !slices.Equal(cni.Plugins, []string{"bridge", "portmap"}) || !cni.Status.Ready {
		t.Errorf("cniconfig %+v", cni)
	}
	var cg struct{ Mode, Driver string }
	json.Unmarshal([]byte(sr.Info["cgroup"]), &cg)
	if cg.Mode != ctr.Cgroup.Mode || cg.Driver != "cgroupfs" {
		t.Errorf("cgroup %+v", cg)
	}
	for _, k := range []string{"config", "runtimeHandlers", "features"} {
		if !json.Valid([]byte(sr.Info[k])) || len(sr.Info[k]) < 3 {
			t.Errorf("info[%q] = %q", k, sr.Info[k])
		}
	}
	// The harness gives every krilld NRI on a private socket.
	if !strings.Contains(sr.Info["nri"], `"enabled":true`) || !strings.Contains(sr.Info["nri"], e.nriSocket()) {
		t.Errorf("nri %q", sr.Info["nri"])
	}
}
