package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// These tests use the host's real cgroup v1 hierarchies: they create cgroups
// named krill-cgtest-<pid>-<n>, move a re-executed copy of the test binary
// into them and remove everything when done.

const childEnv = "KRILL_CGROUPS_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "busy":
		childBusy()
		return
	case "hog":
		childHog()
		return
	}
	os.Exit(m.Run())
}

var keep [][]byte // keeps the children's allocations reachable

// childBusy waits for a byte on stdin (it has then been moved into its
// cgroup), burns 250ms of CPU time, touches 32 MiB, says "ready" and idles until
// stdin closes.
func childBusy() {
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	for start := cpuTime(); cpuTime()-start < 250*time.Millisecond; {
	}
	b := make([]byte, 32<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	keep = append(keep, b)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childHog waits for a byte on stdin, then allocates and touches memory
// until the OOM killer stops it.
func childHog() {
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}

type hostCgroup struct {
	m   *Manager
	rel string
}

var cgSeq int

// newHostCgroup makes a test cgroup in every hierarchy, as runc does, and
// applies the v1 files V1Files derives from r: the real kernel must accept
// them. It is removed (after its process was killed) when the test ends.
func newHostCgroup(t *testing.T, r *runtime.LinuxContainerResources, pidsMax string) (*hostCgroup, map[string]string) {
	t.Helper()
	m, err := New("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() == ModeV2 || !m.realFS {
		t.Skipf("host cgroups are %s: these tests need v1 controllers", m.Mode())
	}
	cgSeq++
	cg := &hostCgroup{m: m, rel: fmt.Sprintf("/krill-cgtest-%d-%d", os.Getpid(), cgSeq)}
	for _, h := range m.hierarchies {
		if err := os.Mkdir(filepath.Join(h, cg.rel), 0o755); err != nil {
			t.Fatal(err)
		}
		// A v1 cpuset cgroup takes no task until it has CPUs and memory
		// nodes; runc copies them from the parent the same way.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(h, cg.rel, f), v, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Cleanup(func() {
		if err := m.Remove(cg.rel); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	files := V1Files(ToOCI(r, 0))
	if pidsMax != "" {
		files["pids.max"] = pidsMax
	}
	// Sorted, memory.limit_in_bytes comes before memory.memsw.limit_in_bytes:
	// the order the kernel needs when lowering both from unlimited.
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		if err := os.WriteFile(cg.file(k), []byte(files[k]), 0); err != nil {
			t.Fatalf("write %s=%s: %v", k, files[k], err)
		}
	}
	return cg, files
}

// file is the path of a "<controller>.<name>" file of the cgroup.
func (cg *hostCgroup) file(name string) string {
	ctrl, _, _ := strings.Cut(name, ".")
	if ctrl == "cpuacct" || ctrl == "cpu" || ctrl == "memory" || ctrl == "pids" || ctrl == "hugetlb" || ctrl == "cpuset" {
		return filepath.Join(cg.m.root, ctrl, cg.rel, name)
	}
	panic("unknown controller of " + name)
}

func (cg *hostCgroup) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(cg.file(name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (cg *hostCgroup) readUint(t *testing.T, name string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(cg.read(t, name), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (cg *hostCgroup) readStat(t *testing.T, key string) uint64 {
	t.Helper()
	kv, err := readKV(cg.file("memory.stat"))
	if err != nil {
		t.Fatal(err)
	}
	return kv[key]
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startChild re-executes the test binary in mode and moves it into cg in
// every hierarchy (the unified one included, as runc does in hybrid mode).
func startChild(t *testing.T, cg *hostCgroup, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { c.kill() }) // registered after the cgroup's: runs before it
	pid := []byte(strconv.Itoa(cmd.Process.Pid))
	for _, h := range cg.m.hierarchies {
		if err := os.WriteFile(filepath.Join(h, cg.rel, "cgroup.procs"), pid, 0); err != nil {
			t.Fatalf("move child into %s: %v", h, err)
		}
	}
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

func TestHostV1Stats(t *testing.T) {
	cg, files := newHostCgroup(t, burstable, "100")
	// The brief's example: requests 250m/64Mi, limits 500m/128Mi.
	for name, want := range map[string]string{
		"memory.limit_in_bytes": "134217728", "memory.memsw.limit_in_bytes": "134217728",
		"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "cpu.shares": "256", "pids.max": "100",
	} {
		if files[name] != want && name != "pids.max" {
			t.Errorf("V1Files %s = %q, want %q", name, files[name], want)
		}
		if got := cg.read(t, name); got != want {
			t.Errorf("kernel %s = %q after writing %q", name, got, want)
		}
	}

	c := startChild(t, cg, "busy")
	first, err := cg.m.Stats(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	c.stdin.Write([]byte("g"))
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("child: %q %v", line, err)
	}

	cpuBefore := cg.readUint(t, "cpuacct.usage")
	faultsBefore := cg.readStat(t, "total_pgfault")
	s, err := cg.m.Stats(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	cpuAfter := cg.readUint(t, "cpuacct.usage")
	faultsAfter := cg.readStat(t, "total_pgfault")

	if s.CPUUsageNanos < cpuBefore || s.CPUUsageNanos > cpuAfter {
		t.Errorf("cpu usage %d outside the cpuacct.usage readings around it [%d, %d]", s.CPUUsageNanos, cpuBefore, cpuAfter)
	}
	if s.CPUUsageNanos < uint64(250*time.Millisecond) {
		t.Errorf("cpu usage %v, the child burned 250ms", time.Duration(s.CPUUsageNanos))
	}
	// nr_periods counts quota periods with runnable tasks: the quota is live.
	// Whether it throttled depends on how busy the machine is.
	if s.CPUUserNanos+s.CPUSystemNanos == 0 || s.CPUPeriods == 0 {
		t.Errorf("user %d system %d periods %d", s.CPUUserNanos, s.CPUSystemNanos, s.CPUPeriods)
	}
	if kv, err := readKV(cg.file("cpu.stat")); err != nil || kv["nr_periods"] != s.CPUPeriods ||
		kv["nr_throttled"] != s.CPUThrottledPeriods || kv["throttled_time"] != s.CPUThrottledNanos {
		t.Errorf("cpu.stat %v (%v) vs periods %d throttled %d (%dns)", kv, err, s.CPUPeriods, s.CPUThrottledPeriods, s.CPUThrottledNanos)
	}
	if s.PageFaults < faultsBefore || s.PageFaults > faultsAfter || s.PageFaults == 0 {
		t.Errorf("page faults %d outside [%d, %d]", s.PageFaults, faultsBefore, faultsAfter)
	}

	// The child idles: memory is steady, within a page-cache wobble.
	usage := cg.readUint(t, "memory.usage_in_bytes")
	if diff := int64(usage) - int64(s.MemoryUsage); diff > 1<<20 || diff < -1<<20 {
		t.Errorf("memory usage %d vs memory.usage_in_bytes %d", s.MemoryUsage, usage)
	}
	if s.MemoryUsage < 32<<20 || s.MemoryRSS < 32<<20 {
		t.Errorf("usage %d rss %d, the child touched 32 MiB", s.MemoryUsage, s.MemoryRSS)
	}
	if s.MemoryWorkingSet != workingSet(s.MemoryUsage, s.MemoryInactiveFile) || s.MemoryWorkingSet > s.MemoryUsage {
		t.Errorf("working set %d, usage %d, inactive file %d", s.MemoryWorkingSet, s.MemoryUsage, s.MemoryInactiveFile)
	}
	if s.MemoryLimit != 134217728 || s.MemoryMaxUsage < s.MemoryUsage {
		t.Errorf("limit %d max usage %d", s.MemoryLimit, s.MemoryMaxUsage)
	}
	if pids := cg.readUint(t, "pids.current"); s.PidsCurrent == 0 || s.PidsCurrent != pids || s.PidsLimit != 100 {
		t.Errorf("pids %d/%d, pids.current %d", s.PidsCurrent, s.PidsLimit, pids)
	}
	if s.OOMKills != 0 {
		t.Errorf("oom kills %d", s.OOMKills)
	}
	if oom, err := cg.m.OOMKilled(cg.rel); oom || err != nil {
		t.Errorf("OOMKilled = %v, %v", oom, err)
	}

	cpu := ToCRICPU(s, first)
	if cpu.UsageNanoCores == nil || cpu.UsageNanoCores.Value == 0 || cpu.UsageCoreNanoSeconds.Value != s.CPUUsageNanos {
		t.Errorf("CRI cpu %v", cpu)
	}
	if mem := ToCRIMemory(s); mem.AvailableBytes.GetValue() != 134217728-s.MemoryWorkingSet {
		t.Errorf("CRI memory %v", mem)
	}
}

func TestHostV1OOM(t *testing.T) {
	cg, _ := newHostCgroup(t, &runtime.LinuxContainerResources{MemoryLimitInBytes: 48 << 20}, "")
	c := startChild(t, cg, "hog")
	ch, stop, err := cg.m.WatchOOM(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c.stdin.Write([]byte("g"))

	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("watch ended without an OOM event")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no OOM event")
	}
	err = c.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("hog ended with %v, want SIGKILL from the OOM killer", err)
	}
	oom, err := cg.m.OOMKilled(cg.rel)
	if err != nil || !oom {
		t.Fatalf("OOMKilled = %v, %v", oom, err)
	}
	s, err := cg.m.Stats(cg.rel)
	if err != nil {
		t.Fatal(err)
	}
	// The hog reached the limit; the peak may overshoot by a page or so
	// (seen: 48 MiB + 4 KiB), never by much.
	if s.OOMKills == 0 || s.MemoryMaxUsage < 47<<20 || s.MemoryMaxUsage > 49<<20 {
		t.Errorf("after OOM: kills %d max usage %d", s.OOMKills, s.MemoryMaxUsage)
	}

	// Removing the cgroup signals the eventfd too: that must end the watch,
	// not look like another OOM.
	for len(ch) > 0 {
		<-ch
	}
	if err := cg.m.Remove(cg.rel); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("removal reported as an OOM")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end on removal")
	}
	cg.assertGone(t)
}

func TestHostV1RemoveBusy(t *testing.T) {
	cg, _ := newHostCgroup(t, burstable, "")
	c := startChild(t, cg, "busy")

	err := cg.m.Remove(cg.rel)
	if !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Remove with a live process = %v, want failed precondition", err)
	}
	for _, h := range cg.m.hierarchies {
		if !exists(filepath.Join(h, cg.rel)) {
			t.Errorf("%s removed while busy", h)
		}
	}

	// A nested cgroup goes with its parent once the process is gone.
	nested := filepath.Join(cg.m.root, "memory", cg.rel, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	c.kill()
	if err := cg.m.Remove(cg.rel); err != nil {
		t.Fatal(err)
	}
	cg.assertGone(t)
	if err := cg.m.Remove(cg.rel); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := cg.m.Stats(cg.rel); !errdefs.IsNotFound(err) {
		t.Errorf("Stats of a removed cgroup: %v", err)
	}
	if _, err := cg.m.OOMKilled(cg.rel); !errdefs.IsNotFound(err) {
		t.Errorf("OOMKilled of a removed cgroup: %v", err)
	}
}

func (cg *hostCgroup) assertGone(t *testing.T) {
	t.Helper()
	for _, h := range cg.m.hierarchies {
		if exists(filepath.Join(h, cg.rel)) {
			t.Errorf("%s still has %s", h, cg.rel)
		}
	}
}
