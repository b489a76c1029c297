package oci

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Test fixtures shared by all tests: the shim binary and a busybox rootfs.
var (
	testShim   string
	testRootfs string
)

// cgroupParent holds every test container's cgroups (absolute cgroupsPath,
// so containers do not nest under the test's own memory cgroup).
const cgroupParent = "/krill-oci-test"

// Every hierarchy runc creates a container cgroup in on this hybrid host
// (v1 controllers, name=systemd, and the cgroup2 mount at unified).
var cgroupControllers = []string{"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd", "unified", "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc"}

func TestMain(m *testing.M) {
	if os.Getenv(fakeKrilldEnv) != "" {
		fakeKrilld()
		return
	}
	os.Exit(runTests(m))
}

// fakeKrilldEnv makes the test binary act as a krilld that creates and
// starts one container, says "started" and waits to be SIGKILLed.
const fakeKrilldEnv = "KRILL_OCI_FAKE_KRILLD"

func fakeKrilld() {
	var in struct {
		Cfg  Config
		Opts CreateOpts
	}
	if err := json.Unmarshal([]byte(os.Getenv(fakeKrilldEnv)), &in); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r, err := New(in.Cfg)
	if err == nil {
		_, err = r.Create(context.Background(), in.Opts)
	}
	if err == nil {
		err = r.Start(context.Background(), in.Opts.ID)
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("started")
	time.Sleep(time.Hour)
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("/tmp", "krill-oci-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	testShim = filepath.Join(tmp, "krill-shim")
	// KRILL_SHIM_BUILD_FLAGS=-race (with GORACE=log_path=...) checks the
	// shim itself for races under these tests.
	args := append([]string{"build"}, strings.Fields(os.Getenv("KRILL_SHIM_BUILD_FLAGS"))...)
	build := exec.Command("go", append(args, "-o", testShim, "github.com/krill-runtime/krill/cmd/krill-shim")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build shim: %v\n%s", err, out)
		return 1
	}
	if testRootfs, err = buildRootfs(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "rootfs:", err)
		return 1
	}
	code := m.Run()
	for _, c := range cgroupControllers {
		os.Remove(filepath.Join("/sys/fs/cgroup", c, cgroupParent))
	}
	return code
}

// buildRootfs makes a rootfs from Debian's busybox-static, with every applet
// as a symlink.
func buildRootfs(tmp string) (string, error) {
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		return "", fmt.Errorf("%s missing (apt-get install -y busybox-static): %w", bb, err)
	}
	root := filepath.Join(tmp, "rootfs")
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		return "", err
	}
	out, err := exec.Command("chroot", root, "/bin/busybox", "--install", "-s").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("busybox --install: %v: %s", err, out)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
	return root, nil
}

// newTestRuntime returns a Runtime over fresh directories. The shim dir is
// short on purpose: unix socket paths are limited to 107 bytes.
func newTestRuntime(t testing.TB) (*Runtime, Config) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "kr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := Config{
		RuncPath: "/usr/sbin/runc",
		RuncRoot: filepath.Join(dir, "runc"),
		ShimPath: testShim,
		ShimDir:  filepath.Join(dir, "s"),
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, cfg
}

var idSeq struct {
	sync.Mutex
	n int
}

func testID(t testing.TB) string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("t%d-%d", os.Getpid(), idSeq.n)
}

// testSpec is a minimal container spec on the shared read-only rootfs.
func testSpec(id string, args []string, tty bool) *specs.Spec {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETUID", "CAP_SETGID"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: tty,
			Args:     args,
			Env:      []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: testRootfs, Readonly: true},
		Hostname: "test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupParent + "/" + id,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
		},
	}
}

// newBundle writes a bundle for args and registers cleanup of the container
// (runc delete, shim dir, cgroups).
func newBundle(t testing.TB, r *Runtime, id string, args []string, tty bool) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(testSpec(id, args, tty))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Delete(context.Background(), id)
		for _, c := range cgroupControllers {
			os.Remove(filepath.Join("/sys/fs/cgroup", c, cgroupParent, id))
		}
	})
	return dir
}

// run creates and starts a container with output logged to a file it returns.
func run(t testing.TB, r *Runtime, o CreateOpts, args []string) (logPath string, pid int) {
	t.Helper()
	if o.ID == "" {
		o.ID = testID(t)
	}
	o.Bundle = newBundle(t, r, o.ID, args, o.TTY)
	if o.LogPath == "" {
		o.LogPath = filepath.Join(t.TempDir(), "c.log")
	}
	ctx := context.Background()
	pid, err := r.Create(ctx, o)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := r.Start(ctx, o.ID); err != nil {
		t.Fatalf("start: %v", err)
	}
	return o.LogPath, pid
}

func waitExit(t testing.TB, r *Runtime, id string) *Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return e
}

type logLine struct {
	Time    time.Time
	Stream  string
	Partial bool
	Content string
}

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) (P|F) (.*)$`)

// readLog parses a CRI log file strictly: every line must match the format.
func readLog(t testing.TB, path string) []logLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The shim may be writing the last line right now: only complete lines.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var lines []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := criLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("not a CRI log line: %q", sc.Text())
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("bad time in %q: %v", sc.Text(), err)
		}
		lines = append(lines, logLine{ts, m[2], m[3] == "P", m[4]})
	}
	return lines
}

// joined returns the full lines of one stream, partial chunks glued together.
func joined(lines []logLine, stream string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range lines {
		if l.Stream != stream {
			continue
		}
		cur.WriteString(l.Content)
		if !l.Partial {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	return out
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// buffer is a goroutine-safe WriteCloser collecting output.
type buffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	closed bool
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
