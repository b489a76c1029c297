// Package krilldtest starts a krilld on private paths for the Go suites
// that drive real containers through the CRI (test/e2e, test/fault), and
// cleans up after it: the parts both harnesses need, in one place.
//
// Each test gets its own directory below /tmp (root, state, sockets, logs,
// CNI conf dir), its own bridge and subnet (test/netslot) and its own
// registry (test/testregistry), so suites of several checkouts can run at
// once on one machine. Processes are stopped by PID only.
package krilldtest

import (
	"context"
	"fmt"
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

	"github.com/krill-runtime/krill/test/testregistry"
)

// RepoRoot is the checkout's root, seen from a package two levels down
// (test/<suite>); bin/ must hold a built krilld.
func RepoRoot(t testing.TB) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "bin", "krilld")); err != nil {
		t.Fatalf("%v: run `make build` first", err)
	}
	return r
}

// BinDir holds the krilld, krill-shim and krill-pause under test: the
// checkout's bin/, or $KRILL_E2E_BIN, so that a benchmark can compare two
// builds side by side (interleaved runs) without rebuilding.
func BinDir(t testing.TB) string {
	if d := os.Getenv("KRILL_E2E_BIN"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(t), "bin")
}

// NewDir makes the test's private directory. Its name is short: shim
// sockets live below it and unix socket paths are limited to 108 bytes.
// It is 0711, like /run: user-namespaced containers (whose root is nobody
// on the host) must be able to walk down to their rootfs.
func NewDir(t testing.TB, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	return dir
}

// Config is what WriteConfig puts in krilld's config file.
type Config struct {
	Root, State, Sock string
	// Runtime is TOML added to the [runtime] table (shim_path and
	// pause_binary are always set to BinDir's).
	Runtime string
	// CNI is TOML added to the [cni] table (conf_dir is always set).
	CNIConfDir, CNI string
	// Extra is TOML appended to the file (whole tables).
	Extra string
}

// WriteConfig writes krilld's config for a test whose directory is dir:
// debug logs, the registry's hosts.toml directory dir/certs.d and a short
// pull progress timeout.
func WriteConfig(t testing.TB, path, dir string, c Config) {
	t.Helper()
	bin := BinDir(t)
	body := fmt.Sprintf(`root = %q
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
%s
%s
`, c.Root, c.State, c.Sock, filepath.Join(bin, "krill-shim"), filepath.Join(bin, "krill-pause"),
		c.Runtime, filepath.Join(dir, "certs.d"), c.CNIConfDir, c.CNI, c.Extra)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Conflist is a bridge + host-local + portmap network on its own bridge
// and subnet, with host-local's state in ipamDir. Never masquerading: pods
// reach each other and the host, nothing beyond.
func Conflist(name, bridge, subnet, ipamDir string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
 {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}`, name, bridge, subnet, ipamDir))
}

// Daemon is one krilld started by a test.
type Daemon struct {
	t       testing.TB
	Dir     string // its log is Dir/krilld.log
	CfgFile string
	Sock    string
	Cmd     *exec.Cmd
	Conn    *grpc.ClientConn
	RT      runtime.RuntimeServiceClient
	Img     runtime.ImageServiceClient
	// Wrap, if set, builds the command that runs krilld (e.g. in a mount
	// namespace of its own). It must exec krilld, so that the pid Kill and
	// Stop signal is krilld's.
	Wrap func(krilld, cfgFile string) *exec.Cmd
}

// New describes a krilld that will run with cfgFile and answer on sock;
// Start runs it.
func New(t testing.TB, dir, cfgFile, sock string) *Daemon {
	return &Daemon{t: t, Dir: dir, CfgFile: cfgFile, Sock: sock}
}

// Start runs bin/krilld and waits up to wait until it answers.
func (d *Daemon) Start(wait time.Duration) {
	d.t.Helper()
	if err := d.StartNoWait(); err != nil {
		d.t.Fatal(err)
	}
	ok := testregistry.WaitFor(wait, func() bool {
		_, err := d.RT.Status(context.Background(), &runtime.StatusRequest{})
		return err == nil
	})
	if !ok {
		d.t.Fatalf("krilld did not come up; log:\n%s", Tail(d.Log(), 40))
	}
}

// StartNoWait runs bin/krilld in a process group of its own and connects
// the clients (once); it does not wait for krilld to answer.
func (d *Daemon) StartNoWait() error {
	log, err := os.OpenFile(filepath.Join(d.Dir, "krilld.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	krilld := filepath.Join(BinDir(d.t), "krilld")
	d.Cmd = exec.Command(krilld, "--config", d.CfgFile)
	if d.Wrap != nil {
		d.Cmd = d.Wrap(krilld, d.CfgFile)
	}
	d.Cmd.Stdout, d.Cmd.Stderr = log, log
	d.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Cmd.Start(); err != nil {
		return err
	}
	if d.Conn == nil {
		d.Conn, err = grpc.NewClient("unix://"+d.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		d.RT = runtime.NewRuntimeServiceClient(d.Conn)
		d.Img = runtime.NewImageServiceClient(d.Conn)
	}
	return nil
}

// Running tells whether the krilld this test started last still runs.
func (d *Daemon) Running() bool { return d.Cmd != nil && d.Cmd.ProcessState == nil }

// Kill SIGKILLs krilld (containers and shims stay).
func (d *Daemon) Kill() {
	if d.Running() {
		d.Cmd.Process.Kill()
		d.Cmd.Wait()
	}
}

// Log is krilld's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "krilld.log"))
	return string(b)
}

// RemovePods removes every pod as kubelet would, reporting failures as
// test errors; nothing happens unless krilld runs.
func (d *Daemon) RemovePods(timeout time.Duration) {
	if d.RT == nil || !d.Running() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pods, err := d.RT.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		if _, err := d.RT.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
			d.t.Errorf("cleanup: remove pod %s: %v", p.Id, err)
		}
	}
}

// Stop ends krilld with SIGTERM (containers keep running, as on a
// restart) and SIGKILLs any stray krilld of this test's config; it returns
// whether krilld was running.
func (d *Daemon) Stop() bool {
	was := d.Running()
	if was {
		d.Cmd.Process.Signal(syscall.SIGTERM)
		d.Cmd.Wait()
	}
	d.KillStrays()
	return was
}

// Close closes the clients, fails the test if krilld answered any call with
// code Unknown (every error has its own gRPC code: a call that ends up as
// Unknown is a mapping krilld is missing) and, if the test failed, logs
// krilld's last lines.
func (d *Daemon) Close(logLines int) {
	if d.Conn != nil {
		d.Conn.Close()
	}
	for _, l := range strings.Split(d.Log(), "\n") {
		if strings.Contains(l, "code=Unknown") {
			d.t.Errorf("krilld answered with code Unknown: %s", l)
		}
	}
	if d.t.Failed() {
		d.t.Logf("krilld log:\n%s", Tail(d.Log(), logLines))
	}
}

// KillStrays SIGKILLs any krilld still running with this test's config
// file: one the test started and lost track of (e.g. a start that raced a
// kill, or a krilld a hook restarted). Found by PID through /proc; nothing
// else is signalled.
func (d *Daemon) KillStrays() {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		args := strings.Split(string(b), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "krilld" && slices.Contains(args, d.CfgFile) {
			d.t.Logf("cleanup: krilld %d outlived the test, killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// UnmountBelow detaches every mount below dir, innermost first, so that
// dir can be removed, and returns their mount points.
func UnmountBelow(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var found []string
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			syscall.Unmount(f[4], syscall.MNT_DETACH)
			found = append(found, f[4])
		}
	}
	return found
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BusyboxImage is a one-layer image of Debian's busybox-static with the
// given applets linked in /bin (nil: every applet busybox has), root and
// nobody in /etc/passwd and /etc/group, and any extra files.
func BusyboxImage(t testing.TB, applets []string, extra ...testregistry.File) *testregistry.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("%v (apt-get install busybox-static)", err)
	}
	files := []testregistry.File{
		{Name: "bin/", Type: '5'}, {Name: "etc/", Type: '5'}, {Name: "tmp/", Type: '5', Mode: 01777},
		{Name: "bin/busybox", Body: bb, Mode: 0o755},
		{Name: "etc/passwd", Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Name: "etc/group", Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	files = append(files, extra...)
	if applets == nil {
		out, err := exec.Command("/bin/busybox", "--list").Output()
		if err != nil {
			t.Fatal(err)
		}
		applets = strings.Fields(string(out))
	}
	for _, applet := range applets {
		if applet != "busybox" {
			files = append(files, testregistry.File{Name: "bin/" + applet, Type: '2', Linkname: "busybox"})
		}
	}
	return &testregistry.Image{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}},
		Layers: [][]byte{testregistry.Tar(files...)},
	}
}
