package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/netslot"
	"github.com/krill-runtime/krill/test/testregistry"
)

// env is one krilld with its own directories, bridge and registry.
type env struct {
	t       testing.TB
	dir     string
	bridge  string
	cfgFile string
	sock    string
	cmd     *exec.Cmd
	conn    *grpc.ClientConn
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
	private   bool     // krilld runs in a mount namespace of its own
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

// binDir holds the krilld, krill-shim and krill-pause under test: the
// repository's bin/, or $KRILL_E2E_BIN, so that a benchmark can compare
// two builds side by side (interleaved runs) without rebuilding.
func binDir(t testing.TB) string {
	if d := os.Getenv("KRILL_E2E_BIN"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "bin")
}

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
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	// Short: shim sockets live below it and unix socket paths are limited
	// to 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "k")
	if err != nil {
		t.Fatal(err)
	}
	// Like /run: user-namespaced containers (whose root is nobody on the
	// host) must be able to walk down to their rootfs.
	os.Chmod(dir, 0o711)
	n, slot := netslot.Reserve(t)
	e := &env{t: t, dir: dir, bridge: fmt.Sprintf("kre2e%d", n), sock: filepath.Join(dir, "krill.sock"), slot: slot, private: opts.noUnifiedCgroup}
	subnet := fmt.Sprintf("10.91.%d.0/24", n)
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
		conflist := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"e2e","plugins":[
 {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}`, e.bridge, subnet, filepath.Join(dir, "ipam"))
		os.WriteFile(filepath.Join(netd, "10-e2e.conflist"), []byte(conflist), 0o644)
	}
	e.cfgFile = filepath.Join(dir, "krill.toml")
	os.WriteFile(e.cfgFile, []byte(fmt.Sprintf(`root = %q
state = %q
listen = "unix://%s"
log_level = "debug"
[runtime]
shim_path = %q
pause_binary = %q
%s
[registry]
config_path = %q
progress_timeout = "10s"
[cni]
conf_dir = %q
[nri]
socket_path = %q
plugin_path = %q
plugin_config_path = %q
%s
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), e.sock,
		filepath.Join(binDir(t), "krill-shim"), filepath.Join(binDir(t), "krill-pause"), opts.runtimeConfig,
		filepath.Join(dir, "certs.d"), netd,
		e.nriSocket(), filepath.Join(dir, "nri-plugins"), filepath.Join(dir, "nri-conf.d"), opts.extraConfig)), 0o644)
	if opts.metrics {
		e.metricsAddr = freeLoopbackPort(t)
		f, _ := os.OpenFile(e.cfgFile, os.O_APPEND|os.O_WRONLY, 0)
		fmt.Fprintf(f, "[metrics]\naddress = %q\n", e.metricsAddr)
		f.Close()
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
	log, err := os.OpenFile(filepath.Join(e.dir, "krilld.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	e.cmd = exec.Command(filepath.Join(binDir(e.t), "krilld"), "--config", e.cfgFile)
	if e.private {
		// exec keeps the pid, so kill() and cleanup still reach krilld.
		e.cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
			`umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" --config "$1"`, e.cmd.Path, e.cfgFile)
	}
	e.cmd.Stdout, e.cmd.Stderr = log, log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	log.Close()
	if e.conn == nil {
		e.conn, err = grpc.NewClient("unix://"+e.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			e.t.Fatal(err)
		}
		e.rt = runtime.NewRuntimeServiceClient(e.conn)
		e.img = runtime.NewImageServiceClient(e.conn)
	}
	ok := testregistry.WaitFor(20*time.Second, func() bool {
		_, err := e.rt.Status(context.Background(), &runtime.StatusRequest{})
		return err == nil
	})
	if !ok {
		e.t.Fatalf("krilld did not come up; log:\n%s", e.log())
	}
}

// kill SIGKILLs krilld (containers and shims stay).
func (e *env) kill() {
	e.cmd.Process.Kill()
	e.cmd.Wait()
}

func (e *env) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "krilld.log"))
	return string(b)
}

func (e *env) cleanup() {
	if e.rt != nil && e.cmd != nil && e.cmd.ProcessState == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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
	}
	e.killStrays()
	if e.conn != nil {
		e.conn.Close()
	}
	if e.t.Failed() {
		e.t.Logf("krilld log:\n%s", tail(e.log(), 60))
	}
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
	// Anything still mounted below the test dir (a failed removal) would
	// make RemoveAll fail; detach it first.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], e.dir) {
				// The netns directory is a mount of its own (like
				// /run/netns) that lives as long as the state directory.
				if f[4] != filepath.Join(e.dir, "state", "netns") {
					e.t.Errorf("cleanup: %s still mounted", f[4])
				}
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	os.RemoveAll(e.dir)
}

// killStrays SIGKILLs any krilld still running with this test's config
// file: one the test started and lost track of (e.g. a start that raced a
// kill). Found by PID through /proc; nothing else is signalled.
func (e *env) killStrays() {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "krilld" && slices.Contains(args, e.cfgFile) {
			e.t.Logf("cleanup: krilld %d outlived the test, killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// busyboxImage is a one-layer image from Debian's busybox-static with the
// applets linked in /bin and a tiny static helper that creates a SysV
// shared memory segment (busybox-static has no ipcmk).
func busyboxImage(t testing.TB) *testregistry.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (apt-get install busybox-static)", err)
	}
	files := []testregistry.File{
		{Name: "bin/", Type: '5'}, {Name: "etc/", Type: '5'}, {Name: "tmp/", Type: '5', Mode: 01777},
		{Name: "bin/busybox", Body: bb, Mode: 0o755},
		{Name: "bin/shmcreate", Body: shmHelper(t), Mode: 0o755},
		{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			files = append(files, testregistry.File{Name: "bin/" + applet, Type: '2', Linkname: "busybox"})
		}
	}
	return &testregistry.Image{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		Layers: [][]byte{testregistry.Tar(files...)},
	}
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
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: name},
			Image:    &runtime.ImageSpec{Image: e.image},
			Command:  cmd,
			LogPath:  name + ".log",
			Mounts:   mounts,
		},
		SandboxConfig: podCfg,
	})
	if err != nil {
		e.t.Fatalf("create container %s: %v", name, err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		e.t.Fatalf("start container %s: %v", name, err)
	}
	return r.ContainerId
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
