package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/krilldtest"
	"github.com/krill-runtime/krill/test/netslot"
	"github.com/krill-runtime/krill/test/testregistry"
)

// env is one krilld with its own directories, bridge and registry.
type env struct {
	t       testing.TB
	d       *krilldtest.Daemon
	dir     string
	bridge  string
	cfgFile string
	sock    string
	rt      runtime.RuntimeServiceClient
	img     runtime.ImageServiceClient
	reg     *testregistry.Registry
	image   string // busybox test image reference in reg
	// metricsAddr is krilld's /metrics host:port (envOptions.metrics).
	metricsAddr string
	pods        []string // pod names, whose cgroup parents the test removes
	// leftovers: what of krilld's built-in network (envOptions) the test
	// made and must remove.
	leftovers []string
	slot      *os.File // flock on the bridge/subnet number, held until cleanup
}

// envOptions change what newEnvWith sets up.
type envOptions struct {
	// builtinNetwork leaves the CNI conf dir empty, so pods get the
	// built-in default network, as with `make run`. The other tests get a
	// conflist of their own (bridge and subnet per test), which is safe
	// next to a running krilld.
	builtinNetwork bool
	// metrics turns on the Prometheus endpoint at a free loopback port
	// (env.metricsAddr).
	metrics bool
	// runtimeConfig is TOML added to the [runtime] table (dotted keys,
	// e.g. handlers.x.path = "...").
	runtimeConfig string
	// extraConfig is TOML appended to the config file (whole tables).
	extraConfig string
	// noUnifiedCgroup runs krilld in a private mount namespace without
	// /sys/fs/cgroup/unified: crun refuses this host's hybrid layout, and
	// works on the pure v1 one that is left.
	noUnifiedCgroup bool
}

func repoRoot(t testing.TB) string { return krilldtest.RepoRoot(t) }

// newEnv starts a registry with the test image and a krilld.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// builtinNetLeftovers are what the built-in network creates on first use
// and keeps: the bridge and host-local's allocation directory.
var builtinNetLeftovers = []string{"/sys/class/net/krill0", "/var/lib/cni/networks/krill"}

func newEnvWith(t testing.TB, opts envOptions) *env {
	t.Helper()
	dir := krilldtest.NewDir(t, "k")
	n, slot := netslot.Reserve(t)
	e := &env{t: t, dir: dir, bridge: fmt.Sprintf("kre2e%d", n), sock: filepath.Join(dir, "krill.sock"), slot: slot}
	netd := filepath.Join(dir, "net.d")
	os.MkdirAll(netd, 0o755)
	if opts.builtinNetwork {
		e.bridge = ""
		for _, p := range builtinNetLeftovers {
			if _, err := os.Stat(p); os.IsNotExist(err) {
				e.leftovers = append(e.leftovers, p)
			}
		}
	} else {
		conflist := krilldtest.Conflist("e2e", e.bridge, fmt.Sprintf("10.91.%d.0/24", n), filepath.Join(dir, "ipam"))
		os.WriteFile(filepath.Join(netd, "10-e2e.conflist"), conflist, 0o644)
	}
	extra := fmt.Sprintf("[nri]\nsocket_path = %q\nplugin_path = %q\nplugin_config_path = %q\n%s",
		e.nriSocket(), filepath.Join(dir, "nri-plugins"), filepath.Join(dir, "nri-conf.d"), opts.extraConfig)
	if opts.metrics {
		e.metricsAddr = freeLoopbackPort(t)
		extra += fmt.Sprintf("[metrics]\naddress = %q\n", e.metricsAddr)
	}
	e.cfgFile = filepath.Join(dir, "krill.toml")
	krilldtest.WriteConfig(t, e.cfgFile, dir, krilldtest.Config{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"), Sock: e.sock,
		Runtime: opts.runtimeConfig, CNIConfDir: netd, Extra: extra,
	})
	e.d = krilldtest.New(t, dir, e.cfgFile, e.sock)
	if opts.noUnifiedCgroup {
		e.d.Wrap = func(krilld, cfgFile string) *exec.Cmd {
			return exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
				`umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" --config "$1"`, krilld, cfgFile)
		}
	}

	e.reg = testregistry.Start(t, testregistry.Options{})
	e.reg.Push(t, "e2e/busybox", "1", busyboxImage(t))
	e.image = e.reg.Ref("e2e/busybox:1")

	t.Cleanup(e.cleanup)
	e.start()
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: e.image}}); err != nil {
		t.Fatalf("pull test image: %v", err)
	}
	return e
}

// nriSocket is where this krilld's NRI plugins connect: private to the
// test, so concurrent krillds never share /var/run/nri/nri.sock.
func (e *env) nriSocket() string { return filepath.Join(e.dir, "nri.sock") }

// freeLoopbackPort returns a 127.0.0.1 address whose port was just free.
func freeLoopbackPort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// start runs bin/krilld and waits until it answers.
func (e *env) start() {
	e.t.Helper()
	e.d.Start(20 * time.Second)
	e.rt, e.img = e.d.RT, e.d.Img
}

// kill SIGKILLs krilld (containers and shims stay).
func (e *env) kill() { e.d.Kill() }

func (e *env) log() string { return e.d.Log() }

func tail(s string, n int) string { return krilldtest.Tail(s, n) }

func (e *env) cleanup() {
	e.d.RemovePods(60 * time.Second)
	e.d.Stop()
	e.d.Close(60)
	if e.bridge != "" {
		exec.Command("ip", "link", "del", e.bridge).Run()
	}
	e.removeBuiltinNet()
	if e.slot != nil {
		e.slot.Close()
	}
	// The pod cgroup parents stand in for kubelet's pod cgroups, which
	// kubelet creates and removes; here the test made them up, so it
	// removes them (Krill removes only its containers' cgroups).
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		for _, name := range e.pods {
			os.Remove(filepath.Join(h, "krill-e2e", name))
		}
		os.Remove(filepath.Join(h, "krill-e2e"))
	}
	// Anything still mounted below the test dir is a failed removal, but
	// for the netns directory: a mount of its own (like /run/netns) that
	// lives as long as the state directory.
	for _, m := range krilldtest.UnmountBelow(e.dir) {
		if m != filepath.Join(e.dir, "state", "netns") {
			e.t.Errorf("cleanup: %s still mounted", m)
		}
	}
	os.RemoveAll(e.dir)
}

// busyboxImage is a one-layer image from Debian's busybox-static with all
// its applets linked in /bin and a tiny static helper that creates a SysV
// shared memory segment (busybox-static has no ipcmk).
func busyboxImage(t testing.TB) *testregistry.Image {
	t.Helper()
	return krilldtest.BusyboxImage(t, nil, testregistry.File{Name: "bin/shmcreate", Body: shmHelper(t), Mode: 0o755})
}

// shmHelper builds bin/shmcreate with gcc, or reads the prebuilt one named
// by KRILL_E2E_SHMCREATE (for hosts without a compiler, such as the test VM).
func shmHelper(t testing.TB) []byte {
	if p := os.Getenv("KRILL_E2E_SHMCREATE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "shm.c")
	os.WriteFile(src, []byte(`#include <stdio.h>
#include <sys/ipc.h>
#include <sys/shm.h>
int main(void) {
	int id = shmget(0x6b72696c, 4096, IPC_CREAT | 0600);
	if (id < 0) { perror("shmget"); return 1; }
	printf("%d\n", id);
	return 0;
}
`), 0o644)
	bin := filepath.Join(dir, "shmcreate")
	if out, err := exec.Command("gcc", "-static", "-Os", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build shm helper: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pod runs a pod sandbox named name and returns its ID and config.
func (e *env) pod(name string) (string, *runtime.PodSandboxConfig) {
	e.t.Helper()
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: name + "-uid"},
		Hostname:     name + "-host",
		LogDirectory: filepath.Join(e.dir, "logs", name),
		Linux:        &runtime.LinuxPodSandboxConfig{CgroupParent: "/krill-e2e/" + name},
	}
	e.pods = append(e.pods, name)
	r, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		e.t.Fatalf("run pod %s: %v", name, err)
	}
	return r.PodSandboxId, cfg
}

// container creates and starts a container running cmd in pod.
func (e *env) container(podID string, podCfg *runtime.PodSandboxConfig, name string, cmd []string, mounts ...*runtime.Mount) string {
	e.t.Helper()
	return e.run(podID, podCfg, &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: name},
		Image:    &runtime.ImageSpec{Image: e.image},
		Command:  cmd,
		LogPath:  name + ".log",
		Mounts:   mounts,
	})
}

// limited creates and starts a container "limited" running sleep under
// the given resources.
func (e *env) limited(podID string, podCfg *runtime.PodSandboxConfig, res *runtime.LinuxContainerResources) string {
	e.t.Helper()
	return e.run(podID, podCfg, &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: "limited"},
		Image:    &runtime.ImageSpec{Image: e.image},
		Command:  []string{"sleep", "3600"},
		Linux:    &runtime.LinuxContainerConfig{Resources: res},
	})
}

// memoryHog creates and starts a container "hog" that grows a shell
// variable without bound (ash keeps it in memory) under a 32 MiB limit,
// swap included: the kernel's OOM killer ends it.
func (e *env) memoryHog(podID string, podCfg *runtime.PodSandboxConfig) string {
	e.t.Helper()
	return e.run(podID, podCfg, &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: "hog"},
		Image:    &runtime.ImageSpec{Image: e.image},
		Command:  []string{"sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"},
		Linux: &runtime.LinuxContainerConfig{Resources: &runtime.LinuxContainerResources{
			MemoryLimitInBytes: 32 << 20, MemorySwapLimitInBytes: 32 << 20,
		}},
	})
}

// run creates and starts a container of cfg in pod; the helpers above
// only differ in cfg.
func (e *env) run(podID string, podCfg *runtime.PodSandboxConfig, cfg *runtime.ContainerConfig) string {
	e.t.Helper()
	name := cfg.GetMetadata().GetName()
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg})
	if err != nil {
		e.t.Fatalf("create container %s: %v", name, err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		e.t.Fatalf("start container %s: %v", name, err)
	}
	return r.ContainerId
}

// waitExited waits up to d for container id to exit and returns its last
// status (whatever its state, for the caller to judge).
func (e *env) waitExited(id string, d time.Duration) *runtime.ContainerStatus {
	e.t.Helper()
	var st *runtime.ContainerStatus
	testregistry.WaitFor(d, func() bool {
		st = e.status(id)
		return st.State == runtime.ContainerState_CONTAINER_EXITED
	})
	return st
}

// exec runs cmd in a container and returns its stdout; it fails the test
// on a non-zero exit.
func (e *env) exec(id string, cmd ...string) string {
	e.t.Helper()
	r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 20})
	if err != nil {
		e.t.Fatalf("exec %v: %v", cmd, err)
	}
	if r.ExitCode != 0 {
		e.t.Fatalf("exec %v: exit %d: %s%s", cmd, r.ExitCode, r.Stdout, r.Stderr)
	}
	return strings.TrimSpace(string(r.Stdout))
}

func (e *env) status(id string) *runtime.ContainerStatus {
	e.t.Helper()
	r, err := e.rt.ContainerStatus(e.ctx(), &runtime.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		e.t.Fatalf("status of %s: %v", id, err)
	}
	return r.Status
}

// removeBuiltinNet removes what of the built-in network this test
// created, unless something else (a krilld started meanwhile) uses it.
func (e *env) removeBuiltinNet() {
	for _, p := range e.leftovers {
		switch {
		case strings.HasPrefix(p, "/sys/class/net/"):
			if ports, _ := os.ReadDir(filepath.Join(p, "brif")); len(ports) == 0 {
				exec.Command("ip", "link", "del", filepath.Base(p)).Run()
			}
		default: // host-local's dir: only its lock and last-reserved files
			entries, _ := os.ReadDir(p)
			busy := false
			for _, en := range entries {
				if en.Name() != "lock" && !strings.HasPrefix(en.Name(), "last_reserved_ip") {
					busy = true
				}
			}
			if !busy {
				os.RemoveAll(p)
			}
		}
	}
}
