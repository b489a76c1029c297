package main

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/krill-runtime/krill/test/netslot"
)

// bench is one comparison run: the registry, the runtimes and everything
// they made, undone by cleanup.
type bench struct {
	dir         string // private directory of the whole run
	cgroupRoot  string // cgroupfs path holding both runtimes' cgroups
	registryPID int
	daemons     []*daemon
	slots       []*os.File
	logDir      string
	once        sync.Once
}

// compare starts Krill and containerd and runs the rounds interleaved.
func compare(o *options) error {
	// Short: Krill's state directory (below it) is limited to 23 bytes.
	dir, err := os.MkdirTemp("/tmp", "kb")
	if err != nil {
		return err
	}
	os.Chmod(dir, 0o711) // like /run: containers' users walk down to their rootfs
	b := &bench{dir: dir, cgroupRoot: fmt.Sprintf("/krill-bench-%d", os.Getpid()), logDir: o.logDir}
	defer b.cleanup()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	// A closed stdout (`| head`) must fail writes, not kill the run
	// before it has cleaned up.
	signal.Ignore(syscall.SIGPIPE)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "benchcmp: interrupted, cleaning up")
		b.cleanup()
		os.Exit(130)
	}()

	port, err := b.startRegistry(o.testDir)
	if err != nil {
		return err
	}
	certs := filepath.Join(dir, "certs.d")
	if out, err := exec.Command("bash", filepath.Join(o.testDir, "images", "mirrors.sh"), certs, port).CombinedOutput(); err != nil {
		return fmt.Errorf("mirrors.sh: %v: %s", err, out)
	}
	for i, spec := range strings.Split(o.runtimes, ",") {
		d, err := b.startDaemon(i, spec, o, paths{runc: o.runc, certsDir: certs, pauseImage: o.pauseImage})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "benchcmp: %s running (pid %d, %s, bridge %s %s)\n", d.label, d.cmd.Process.Pid, d.sock, d.bridge, d.subnet)
	}
	return b.rounds(o)
}

// rounds runs o.rounds rounds of each runtime, A B A B, and prints the
// tables.
func (b *bench) rounds(o *options) error {
	results := map[string][]*result{}
	var order []*result
	var w *workload
	for r := 1; r <= o.rounds; r++ {
		for _, d := range b.daemons {
			w = o.workload(d.sock, d.cgroup, d.cmd.Process.Pid, r, filepath.Join(d.dir, "logs"))
			res, err := measure(w)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", d.label, r, err)
			}
			res.Runtime, res.Round = d.label, r
			results[d.label] = append(results[d.label], res)
			order = append(order, res)
			fmt.Fprintf(os.Stderr, "benchcmp: round %d %s: ready p50 %.0f ms, lifecycle p50 %.0f ms, CPU/pod %.0f ms\n",
				r, d.label, res.ReadyP50, res.LifecycleP50, res.CPUPerPod)
		}
	}
	var names []string
	for _, d := range b.daemons {
		names = append(names, d.label)
	}
	fmt.Printf("Median of %d interleaved rounds per runtime (%s); ratio = first / second. %d sequential pods, %d bursts of %d, %d pods kept.\n\n",
		o.rounds, strings.Join(names, ", "), o.sequential, o.bursts, o.burstSize, o.kept)
	printTable(os.Stdout, figures(w), names, results)
	fmt.Printf("\nEach round, in the order run:\n\n")
	printRaw(os.Stdout, figures(w), order)
	return nil
}

// startRegistry serves the test images (built by test/images/build.sh)
// from a registry on 127.0.0.1 and returns its port.
func (b *bench) startRegistry(testDir string) (string, error) {
	state := filepath.Join(b.dir, "registry")
	out, err := exec.Command("bash", filepath.Join(testDir, "images", "serve.sh"), "--no-build", "--state", state).CombinedOutput()
	if pid, err := os.ReadFile(filepath.Join(state, "registry.pid")); err == nil {
		b.registryPID, _ = strconv.Atoi(strings.TrimSpace(string(pid)))
	}
	if err != nil {
		return "", fmt.Errorf("serve.sh (run test/images/build.sh first): %v: %s", err, out)
	}
	port, err := os.ReadFile(filepath.Join(state, "registry.port"))
	return strings.TrimSpace(string(port)), err
}

// startDaemon starts the runtime spec names: "krill" or "containerd"
// (binaries from -krill-bin, -containerd-bin), or "krill=DIR" for the
// build in DIR, so two Krill builds can be compared with each other.
func (b *bench) startDaemon(i int, spec string, o *options, p paths) (*daemon, error) {
	kind, bin, _ := strings.Cut(spec, "=")
	configure := map[string]func(*daemon, paths) error{"krill": krillDaemon, "containerd": containerdDaemon}[kind]
	if configure == nil {
		return nil, fmt.Errorf("unknown runtime %q (krill, containerd, krill=DIR)", spec)
	}
	var err error
	if p.krillBin, err = filepath.Abs(cmp.Or(bin, o.krillBin)); err != nil {
		return nil, err
	}
	if p.containerdBin, err = filepath.Abs(cmp.Or(bin, o.containerdBin)); err != nil {
		return nil, err
	}
	d, err := b.newDaemon(i, kind)
	if err != nil {
		return nil, err
	}
	if err := configure(d, p); err != nil {
		return nil, err
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	// Table columns are keyed by label: two builds of one version differ
	// by their directory.
	for _, other := range b.daemons[:len(b.daemons)-1] {
		if other.label == d.label {
			d.label += " (" + p.krillBin + ")"
		}
	}
	return d, nil
}

// newDaemon gives runtime number i its directory, socket, cgroup, and a
// bridge and subnet number no other test process holds.
func (b *bench) newDaemon(i int, kind string) (*daemon, error) {
	n, slot, err := reserveSlot()
	if err != nil {
		return nil, err
	}
	b.slots = append(b.slots, slot)
	d := &daemon{
		name:   kind,
		dir:    filepath.Join(b.dir, fmt.Sprint(i)),
		cgroup: fmt.Sprintf("%s/%d-%s", b.cgroupRoot, i, kind),
		bridge: fmt.Sprintf("krbench%d", n),
		subnet: fmt.Sprintf("10.91.%d.0/24", n),
		net:    fmt.Sprintf("krbench%d", n),
	}
	d.sock = filepath.Join(d.dir, kind+".sock")
	b.daemons = append(b.daemons, d)
	return d, os.MkdirAll(d.dir, 0o711)
}

// slotTB lets netslot.Reserve, written for tests, report failure to a
// program: Fatal panics and reserveSlot turns that into an error.
type slotTB struct{ testing.TB }

func (slotTB) Helper()                      {}
func (slotTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (slotTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func reserveSlot() (n int, f *os.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("netslot: %v", r)
		}
	}()
	n, f = netslot.Reserve(slotTB{})
	return n, f, nil
}

// cleanup stops the runtimes and the registry (by PID), keeps the logs,
// and removes what the run made: mounts below its directory, bridges,
// cgroups, the directory. It runs once, also from the signal handler.
func (b *bench) cleanup() {
	b.once.Do(func() {
		for _, d := range b.daemons {
			d.stop()
		}
		if b.registryPID > 0 {
			syscall.Kill(b.registryPID, syscall.SIGTERM)
		}
		if b.logDir != "" {
			os.MkdirAll(b.logDir, 0o755)
			for _, d := range b.daemons {
				if log, err := os.ReadFile(filepath.Join(d.dir, d.name+".log")); err == nil {
					os.WriteFile(filepath.Join(b.logDir, filepath.Base(d.dir)+"-"+d.name+".log"), log, 0o644)
				}
			}
		}
		unmountUnder(b.dir)
		for _, d := range b.daemons {
			if _, err := os.Stat("/sys/class/net/" + d.bridge); err == nil {
				exec.Command("ip", "link", "del", d.bridge).Run()
			}
		}
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range hierarchies {
			removeCgroupTree(filepath.Join(h, b.cgroupRoot))
		}
		for _, s := range b.slots {
			s.Close()
		}
		os.RemoveAll(b.dir)
	})
}

// unmountUnder detaches every mount below dir, deepest first (overlay
// rootfs, netns bind mounts, shm).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeCgroupTree removes the cgroup directory dir and those below it,
// children first (rmdir only works on empty cgroups).
func removeCgroupTree(dir string) {
	subs, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, s := range subs {
		if s.IsDir() {
			removeCgroupTree(filepath.Join(dir, s.Name()))
		}
	}
	if err := syscall.Rmdir(dir); err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: cleanup: rmdir %s: %v\n", dir, err)
	}
}
