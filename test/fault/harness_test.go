package fault

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/leakcheck"
	"github.com/krill-runtime/krill/test/netslot"
	"github.com/krill-runtime/krill/test/testregistry"
)

// env is one krilld whose runc and CNI plugins run behind hook wrappers.
type env struct {
	t         testing.TB
	dir       string
	root      string
	state     string
	bridge    string
	network   string
	cfgFile   string
	sock      string
	cmd       *exec.Cmd
	conn      *grpc.ClientConn
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

func repoRoot(t testing.TB) string {
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "bin", "krilld")); err != nil {
		t.Fatalf("%v: run `make build` first", err)
	}
	return r
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	repo := repoRoot(t)
	dir, err := os.MkdirTemp("/tmp", "kf")
	if err != nil {
		t.Fatal(err)
	}
	n, slot := netslot.Reserve(t)
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		bridge: fmt.Sprintf("kre2e%d", n), network: fmt.Sprintf("kfault%d", n),
		sock: filepath.Join(dir, "krill.sock"), hooks: filepath.Join(dir, "hooks"), slot: slot}
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
	os.WriteFile(filepath.Join(netd, "10-fault.conflist"), []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
 {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.91.%d.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}`, e.network, e.bridge, n, e.ipam())), 0o644)
	runc, cniDir := e.writeWrappers()
	e.cfgFile = filepath.Join(dir, "krill.toml")
	os.WriteFile(e.cfgFile, []byte(fmt.Sprintf(`root = %q
state = %q
listen = "unix://%s"
log_level = "debug"
[runtime]
runc_path = %q
shim_path = %q
pause_binary = %q
[registry]
config_path = %q
progress_timeout = "10s"
[cni]
conf_dir = %q
bin_dirs = [%q]
`, e.root, e.state, e.sock, runc, filepath.Join(repo, "bin", "krill-shim"), filepath.Join(repo, "bin", "krill-pause"),
		filepath.Join(dir, "certs.d"), netd, cniDir)), 0o644)

	reg := testregistry.Start(t, testregistry.Options{})
	reg.Push(t, "fault/busybox", "1", busyboxImage(t))
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
	if err := e.startNoWait(); err != nil {
		e.t.Fatal(err)
	}
	ok := testregistry.WaitFor(120*time.Second, func() bool {
		_, err := e.rt.Status(context.Background(), &runtime.StatusRequest{})
		return err == nil
	})
	if !ok {
		e.t.Fatalf("krilld did not come up; log:\n%s", tail(e.log(), 40))
	}
}

func (e *env) startNoWait() error {
	log, err := os.OpenFile(filepath.Join(e.dir, "krilld.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	e.cmd = exec.Command(filepath.Join(repoRoot(e.t), "bin", "krilld"), "--config", e.cfgFile)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		return err
	}
	if e.conn == nil {
		e.conn, err = grpc.NewClient("unix://"+e.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		e.rt = runtime.NewRuntimeServiceClient(e.conn)
		e.img = runtime.NewImageServiceClient(e.conn)
	}
	return nil
}

// kill SIGKILLs krilld (containers and shims stay).
func (e *env) kill() {
	if e.cmd != nil && e.cmd.ProcessState == nil {
		e.cmd.Process.Kill()
		e.cmd.Wait()
	}
}

// reap waits for a krilld a hook killed.
func (e *env) reap() {
	e.t.Helper()
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
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

func (e *env) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "krilld.log"))
	return string(b)
}

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
	if e.rt != nil && e.cmd != nil && e.cmd.ProcessState == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		if pods, err := e.rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{}); err == nil {
			for _, p := range pods.Items {
				if _, err := e.rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
					e.t.Errorf("cleanup: remove pod %s: %v", p.Id, err)
				}
			}
		}
		cancel()
	}
	if e.cmd != nil && e.cmd.ProcessState == nil {
		e.cmd.Process.Signal(syscall.SIGTERM)
		e.cmd.Wait()
		// With everything removed and krilld stopped, nothing at all may
		// remain, snapshots included.
		if !e.t.Failed() {
			leaks, err := leakcheck.Check(e.leakConfig(true))
			if err != nil {
				e.t.Error(err)
			}
			for _, l := range leaks {
				e.t.Errorf("leak after removing everything: %s", l)
			}
		}
	}
	if e.conn != nil {
		e.conn.Close()
	}
	if e.t.Failed() {
		e.t.Logf("krilld log:\n%s", tail(e.log(), 80))
	}
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
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		lines := strings.Split(string(b), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], e.dir+"/") {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	os.RemoveAll(e.dir)
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// busyboxImage is a one-layer image of Debian's busybox-static.
func busyboxImage(t testing.TB) *testregistry.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (apt-get install busybox-static)", err)
	}
	files := []testregistry.File{
		{Name: "bin/", Type: '5'}, {Name: "etc/", Type: '5'}, {Name: "tmp/", Type: '5', Mode: 01777},
		{Name: "bin/busybox", Body: bb, Mode: 0o755},
		{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		{Name: "etc/group", Body: []byte("root:x:0:\n")},
	}
	for _, applet := range []string{"sh", "sleep", "echo", "true", "cat"} {
		files = append(files, testregistry.File{Name: "bin/" + applet, Type: '2', Linkname: "busybox"})
	}
	return &testregistry.Image{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		Layers: [][]byte{testregistry.Tar(files...)},
	}
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
