package fault

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/krilldtest"
	"github.com/krill-runtime/krill/test/leakcheck"
	"github.com/krill-runtime/krill/test/netslot"
	"github.com/krill-runtime/krill/test/testregistry"
)

// env is one krilld whose runc and CNI plugins run behind hook wrappers.
type env struct {
	t         testing.TB
	d         *krilldtest.Daemon
	dir       string
	root      string
	state     string
	bridge    string
	network   string
	rt        runtime.RuntimeServiceClient
	img       runtime.ImageServiceClient
	image     string
	hooks     string
	slot      *os.File
	rootTmpfs bool
}

type options struct {
	// rootSize puts root on a tmpfs of that many MiB (0: a plain dir), so a
	// test can fill it.
	rootSize int
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	dir := krilldtest.NewDir(t, "kf")
	n, slot := netslot.Reserve(t)
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		bridge: fmt.Sprintf("kre2e%d", n), network: fmt.Sprintf("kfault%d", n),
		hooks: filepath.Join(dir, "hooks"), slot: slot}
	t.Cleanup(e.cleanup)
	os.MkdirAll(e.root, 0o711)
	os.MkdirAll(e.hooks, 0o755)
	if o.rootSize > 0 {
		if err := syscall.Mount("tmpfs", e.root, "tmpfs", 0, fmt.Sprintf("size=%dm", o.rootSize)); err != nil {
			t.Fatal(err)
		}
		e.rootTmpfs = true
	}
	netd := filepath.Join(dir, "net.d")
	os.MkdirAll(netd, 0o755)
	os.WriteFile(filepath.Join(netd, "10-fault.conflist"), krilldtest.Conflist(e.network, e.bridge, fmt.Sprintf("10.91.%d.0/24", n), e.ipam()), 0o644)
	runc, cniDir := e.writeWrappers()
	cfgFile, sock := filepath.Join(dir, "krill.toml"), filepath.Join(dir, "krill.sock")
	krilldtest.WriteConfig(t, cfgFile, dir, krilldtest.Config{
		Root: e.root, State: e.state, Sock: sock,
		Runtime: fmt.Sprintf("runc_path = %q", runc), CNIConfDir: netd, CNI: fmt.Sprintf("bin_dirs = [%q]", cniDir),
	})
	e.d = krilldtest.New(t, dir, cfgFile, sock)

	reg := testregistry.Start(t, testregistry.Options{})
	reg.Push(t, "fault/busybox", "1", krilldtest.BusyboxImage(t, []string{"sh", "sleep", "echo", "true", "cat"}))
	e.image = reg.Ref("fault/busybox:1")
	e.start()
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: e.image}}); err != nil {
		t.Fatalf("pull test image: %v", err)
	}
	return e
}

func (e *env) ipam() string { return filepath.Join(e.dir, "ipam") }

// wrapperScript runs a one-shot hook for the verb, then the real binary.
// A hook is a shell snippet: it may exit (the verb fails without running),
// sleep (a hung binary: exec sleep, so a context kill ends it), kill
// krilld, or set AFTER to a command run after the real binary.
const wrapperScript = `#!/bin/sh
REAL=%q
HOOKS=%q
STATE=%q
VERB=%s
h="$HOOKS/%s.$VERB"
if mv "$h" "$h.fired" 2>/dev/null; then . "$h.fired"; fi
"$REAL" "$@"
rc=$?
if [ -n "$AFTER" ]; then eval "$AFTER"; fi
exit $rc
`

// runcVerb finds runc's command among its arguments.
const runcVerb = `$(for a in "$@"; do case "$a" in create|start|run|kill|delete|state|exec|update) echo "$a"; break;; esac; done)`

func (e *env) writeWrappers() (runc, cniDir string) {
	wrap := filepath.Join(e.dir, "wrap")
	cniDir = filepath.Join(wrap, "cni")
	os.MkdirAll(cniDir, 0o755)
	real, err := exec.LookPath("runc")
	if err != nil {
		e.t.Fatal(err)
	}
	runc = filepath.Join(wrap, "runc")
	os.WriteFile(runc, []byte(fmt.Sprintf(wrapperScript, real, e.hooks, e.state, runcVerb, "runc")), 0o755)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		real := ""
		for _, d := range []string{"/opt/cni/bin", "/usr/lib/cni"} {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				real = filepath.Join(d, p)
				break
			}
		}
		if real == "" {
			e.t.Skipf("CNI plugin %s not installed", p)
		}
		os.WriteFile(filepath.Join(cniDir, p), []byte(fmt.Sprintf(wrapperScript, real, e.hooks, e.state, `"$CNI_COMMAND"`, p)), 0o755)
	}
	return runc, cniDir
}

// hook arms a one-shot hook, e.g. hook("runc.start", killAfter).
func (e *env) hook(name, script string) {
	if err := os.WriteFile(filepath.Join(e.hooks, name), []byte(script+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// fired tells whether hook name ran.
func (e *env) fired(name string) bool {
	_, err := os.Stat(filepath.Join(e.hooks, name+".fired"))
	return err == nil
}

const (
	// killAfter: the verb does its work, then krilld is SIGKILLed before it
	// hears the answer.
	killAfter = `AFTER='kill -9 $(head -1 "$STATE/krilld.lock")'`
	// killBefore: krilld dies as the verb starts; the verb does not run.
	killBefore = `kill -9 $(head -1 "$STATE/krilld.lock"); exit 1`
	failVerb   = `echo injected failure >&2; exit 1`
	hang       = `exec sleep 3600`
)

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// start runs bin/krilld and waits until it answers.
func (e *env) start() {
	e.t.Helper()
	e.d.Start(120 * time.Second)
	e.rt, e.img = e.d.RT, e.d.Img
}

// startNoWait runs bin/krilld without waiting for it to answer.
func (e *env) startNoWait() error {
	err := e.d.StartNoWait()
	e.rt, e.img = e.d.RT, e.d.Img
	return err
}

// kill SIGKILLs krilld (containers and shims stay).
func (e *env) kill() { e.d.Kill() }

// reap waits for a krilld a hook killed.
func (e *env) reap() {
	e.t.Helper()
	done := make(chan struct{})
	go func() { e.d.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		e.t.Fatal("krilld was not killed by the hook")
	}
}

// restart kills krilld if it still runs and starts it again.
func (e *env) restart() {
	e.t.Helper()
	e.kill()
	e.start()
}

func (e *env) log() string { return e.d.Log() }

func tail(s string, n int) string { return krilldtest.Tail(s, n) }

// leakConfig describes this krilld for test/leakcheck.
func (e *env) leakConfig(snapshots bool) leakcheck.Config {
	return leakcheck.Config{
		Root: e.root, State: e.state, Bridge: e.bridge, IPAMDir: e.ipam(), Network: e.network,
		CgroupParents: e.cgroupParents(), Snapshots: snapshots,
	}
}

func (e *env) cgroupParents() []string {
	var out []string
	entries, _ := os.ReadDir("/sys/fs/cgroup/memory/" + e.cgroupRoot())
	for _, en := range entries {
		if en.IsDir() {
			out = append(out, filepath.Join(e.cgroupRoot(), en.Name()))
		}
	}
	return out
}

func (e *env) cgroupRoot() string { return "krill-fault-" + filepath.Base(e.dir) }

// checkLeaks runs the shared leak checker against the running krilld.
func (e *env) checkLeaks() {
	e.t.Helper()
	leaks, err := leakcheck.Check(e.leakConfig(false))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range leaks {
		e.t.Errorf("leak: %s", l)
	}
}

func (e *env) cleanup() {
	e.d.RemovePods(120 * time.Second)
	// With everything removed and krilld stopped, nothing at all may
	// remain, snapshots included.
	if e.d.Stop() && !e.t.Failed() {
		leaks, err := leakcheck.Check(e.leakConfig(true))
		if err != nil {
			e.t.Error(err)
		}
		for _, l := range leaks {
			e.t.Errorf("leak after removing everything: %s", l)
		}
	}
	e.d.Close(80)
	exec.Command("ip", "link", "del", e.bridge).Run()
	if e.slot != nil {
		e.slot.Close()
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		for _, p := range e.cgroupParents() {
			os.Remove(filepath.Join(h, p))
		}
		os.Remove(filepath.Join(h, e.cgroupRoot()))
	}
	krilldtest.UnmountBelow(e.dir)
	os.RemoveAll(e.dir)
}

// podConfig is a pod named name, with its own cgroup parent.
func (e *env) podConfig(name string, hostPorts ...int32) *runtime.PodSandboxConfig {
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "fault", Uid: name + "-uid"},
		Hostname:     name,
		LogDirectory: filepath.Join(e.dir, "logs", name),
		Linux:        &runtime.LinuxPodSandboxConfig{CgroupParent: "/" + e.cgroupRoot() + "/" + name},
	}
	for _, p := range hostPorts {
		cfg.PortMappings = append(cfg.PortMappings, &runtime.PortMapping{HostPort: p, ContainerPort: 80, Protocol: runtime.Protocol_TCP})
	}
	return cfg
}

// pod runs a pod sandbox and returns its ID and config.
func (e *env) pod(name string) (string, *runtime.PodSandboxConfig) {
	e.t.Helper()
	cfg := e.podConfig(name)
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		e.t.Fatalf("run pod %s: %v", name, err)
	}
	return r.PodSandboxId, cfg
}

func (e *env) containerConfig(name string, cmd ...string) *runtime.ContainerConfig {
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: name},
		Image:    &runtime.ImageSpec{Image: e.image},
		Command:  cmd,
		LogPath:  name + ".log",
	}
}

// create creates a container running cmd in pod.
func (e *env) create(podID string, podCfg *runtime.PodSandboxConfig, name string, cmd ...string) string {
	e.t.Helper()
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID, Config: e.containerConfig(name, cmd...), SandboxConfig: podCfg,
	})
	if err != nil {
		e.t.Fatalf("create container %s: %v", name, err)
	}
	return r.ContainerId
}

// container creates and starts a container running cmd in pod.
func (e *env) container(podID string, podCfg *runtime.PodSandboxConfig, name string, cmd ...string) string {
	e.t.Helper()
	id := e.create(podID, podCfg, name, cmd...)
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: id}); err != nil {
		e.t.Fatalf("start container %s: %v", name, err)
	}
	return id
}

func (e *env) status(id string) *runtime.ContainerStatus {
	e.t.Helper()
	r, err := e.rt.ContainerStatus(e.ctx(), &runtime.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		e.t.Fatalf("status of %s: %v", id, err)
	}
	return r.Status
}

// waitState waits until container id is in state want.
func (e *env) waitState(id string, want runtime.ContainerState, d time.Duration) *runtime.ContainerStatus {
	e.t.Helper()
	var st *runtime.ContainerStatus
	if !testregistry.WaitFor(d, func() bool { st = e.status(id); return st.State == want }) {
		e.t.Fatalf("container %s is %s, want %s", id, st.State, want)
	}
	return st
}

// removeAll removes every pod, as kubelet would.
func (e *env) removeAll() {
	e.t.Helper()
	pods, err := e.rt.ListPodSandbox(e.ctx(), &runtime.ListPodSandboxRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range pods.Items {
		if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			e.t.Fatalf("remove pod %s: %v", p.Id, err)
		}
	}
}
