package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var (
	runcOnce sync.Once
	runcPath string
	runcErr  error
)

// newRunc returns a current runc built by hack/build-runc.sh (cached after
// the first build): Debian's 1.1.5 has no idmapped mounts.
func newRunc(t testing.TB) string {
	t.Helper()
	runcOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "build-runc.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		runcPath, runcErr = strings.TrimSpace(string(out)), err
	})
	if runcErr != nil {
		t.Fatalf("build runc: %v", runcErr)
	}
	return runcPath
}

// runcIDs lists the containers a runc --root knows (one directory each).
func runcIDs(t *testing.T, root string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	entries, _ := os.ReadDir(root)
	for _, en := range entries {
		ids[en.Name()] = true
	}
	return ids
}

// TestRuntimeHandlers: a pod asking for an unknown handler is refused with
// the known names and leaves nothing; a pod under a named handler runs its
// pause and containers with that handler's binary and root, also after a
// krilld restart; Status reports features probed from each binary (the
// Debian runc 1.1.5 of the built-in handler has no idmapped mounts, the
// built runc 1.3 has).
func TestRuntimeHandlers(t *testing.T) {
	e := newEnvWith(t, envOptions{runtimeConfig: "handlers.runc13.path = \"" + newRunc(t) + "\"\n"})
	defRoot := filepath.Join(e.dir, "state", "runc")
	newRoot := filepath.Join(e.dir, "state", "runtimes", "runc13")

	st, err := e.rt.Status(e.ctx(), &runtime.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	features := map[string]*runtime.RuntimeHandlerFeatures{}
	for _, h := range st.RuntimeHandlers {
		features[h.Name] = h.Features
	}
	if len(features) != 3 || features[""] == nil || features["runc"] == nil || features["runc13"] == nil {
		t.Fatalf("runtime handlers %v, want \"\", runc, runc13", st.RuntimeHandlers)
	}
	if !features["runc13"].UserNamespaces || !features["runc13"].RecursiveReadOnlyMounts {
		t.Errorf("runc 1.3 features %v, want user namespaces and rro", features["runc13"])
	}
	if features["runc"].UserNamespaces || features[""].UserNamespaces {
		t.Errorf("Debian runc 1.1.5 claims user namespaces: %v", st.RuntimeHandlers)
	}

	kata := &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "kata", Namespace: "e2e", Uid: "kata-uid"}}
	_, err = e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: kata, RuntimeHandler: "kata"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "runc13") {
		t.Fatalf("unknown handler: %v, want NotFound naming the known handlers", err)
	}
	for _, d := range []string{"pods", "netns", "runc", "runtimes/runc13", "shims"} {
		if entries, _ := os.ReadDir(filepath.Join(e.dir, "state", d)); len(entries) != 0 {
			t.Errorf("refused pod left %d entries in state/%s", len(entries), d)
		}
	}

	podCfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: "newrunc", Namespace: "e2e", Uid: "newrunc-uid"},
		LogDirectory: filepath.Join(e.dir, "logs", "newrunc"),
		Linux:        &runtime.LinuxPodSandboxConfig{CgroupParent: "/krill-e2e/newrunc"},
	}
	e.pods = append(e.pods, "newrunc")
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: podCfg, RuntimeHandler: "runc13"})
	if err != nil {
		t.Fatal(err)
	}
	podID := r.PodSandboxId
	ctr := e.container(podID, podCfg, "c", []string{"sleep", "3600"})
	defPod, defCfg := e.pod("default")
	defCtr := e.container(defPod, defCfg, "c", []string{"sleep", "3600"})

	check := func(when string) {
		t.Helper()
		inNew, inDef := runcIDs(t, newRoot), runcIDs(t, defRoot)
		if !inNew[podID] || !inNew[ctr] || inDef[podID] || inDef[ctr] {
			t.Errorf("%s: pod and container of handler runc13 not (only) in its root: runc13 %v, runc %v", when, inNew, inDef)
		}
		if !inDef[defPod] || !inDef[defCtr] || inNew[defPod] || inNew[defCtr] {
			t.Errorf("%s: default pod not (only) in the runc root: runc13 %v, runc %v", when, inNew, inDef)
		}
		ps, err := e.rt.PodSandboxStatus(e.ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
		if err != nil || ps.Status.RuntimeHandler != "runc13" {
			t.Errorf("%s: pod status handler %q (%v), want runc13", when, ps.GetStatus().GetRuntimeHandler(), err)
		}
		if out := e.exec(ctr, "echo", "hi"); out != "hi" {
			t.Errorf("%s: exec under runc13: %q", when, out)
		}
	}
	check("before restart")
	e.kill()
	e.start()
	check("after restart")

	for _, id := range []string{podID, defPod} {
		if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if ids := runcIDs(t, newRoot); len(ids) != 0 {
		t.Errorf("runc13 root keeps %v after the pods were removed", ids)
	}
}

// TestCrunHandler: Debian's crun as a second handler runs a pod and its
// containers (exec included), in its own root, and removes them. crun
// refuses this host's hybrid cgroup layout (krilld check says so), so
// krilld runs where the unified mount is hidden.
func TestCrunHandler(t *testing.T) {
	crun, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun not installed (apt-get install crun)")
	}
	e := newEnvWith(t, envOptions{noUnifiedCgroup: true,
		runtimeConfig: "handlers.crun.path = \"" + crun + "\"\nhandlers.crun.type = \"crun\"\n"})
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: "crun", Namespace: "e2e", Uid: "crun-uid"},
		LogDirectory: filepath.Join(e.dir, "logs", "crun"),
		Linux:        &runtime.LinuxPodSandboxConfig{CgroupParent: "/krill-e2e/crun"},
	}
	e.pods = append(e.pods, "crun")
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "crun"})
	if err != nil {
		t.Fatal(err)
	}
	id := e.container(r.PodSandboxId, cfg, "c", []string{"sleep", "3600"})
	if out := e.exec(id, "echo", "hi"); out != "hi" {
		t.Errorf("exec under crun: %q", out)
	}
	root := filepath.Join(e.dir, "state", "runtimes", "crun")
	if ids := runcIDs(t, root); !ids[r.PodSandboxId] || !ids[id] {
		t.Errorf("pod and container not in crun's root: %v", ids)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if ids := runcIDs(t, root); len(ids) != 0 {
		t.Errorf("crun root keeps %v", ids)
	}
}
