// Command benchcmp is the CRI benchmark of issue 19: the same pod
// workload against CRI runtimes, timed by RPC, with the host CPU and
// per-pod memory each runtime's process tree spends on it.
//
// With -endpoint it measures any running CRI runtime (CPU and memory
// figures need -cgroup and -daemon-pid, see workload). Without it,
// it compares Krill and a reference containerd: it serves the test images
// from a registry on 127.0.0.1 (test/images/serve.sh), starts both
// runtimes on private paths (own root, state, sockets, bridge and subnet
// from test/netslot, cpuacct cgroup), runs rounds interleaved (A B A B),
// prints the median of each figure per runtime with the ratio, then each
// round's own figures, and undoes everything it made.
//
// `make bench-compare` builds what it needs and runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

type options struct {
	rounds                                 int
	sequential, bursts, burstSize, kept    int
	statsCalls                             int
	idle                                   time.Duration
	image, pauseImage                      string
	endpoint, cgroup                       string
	daemonPID                              int
	krillBin, containerdBin, runc, testDir string
	logDir                                 string
	runtimes                               string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per runtime (compare: interleaved A B A B)")
	flag.IntVar(&o.sequential, "sequential", 20, "pods run through a full lifecycle one after another")
	flag.IntVar(&o.bursts, "bursts", 3, "bursts of pods started at once")
	flag.IntVar(&o.burstSize, "burst-size", 10, "pods per burst")
	flag.IntVar(&o.kept, "kept", 20, "pods kept running for ListContainerStats, memory and idle CPU")
	flag.IntVar(&o.statsCalls, "stats-calls", 20, "ListContainerStats calls with the kept pods")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "how long idle CPU is measured")
	flag.StringVar(&o.image, "image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "container image")
	flag.StringVar(&o.pauseImage, "pause-image", "registry.k8s.io/pause:3.10", "pause (sandbox) image of both runtimes; pulled before measuring")
	flag.StringVar(&o.endpoint, "endpoint", "", "measure this CRI socket only (no runtimes started)")
	flag.StringVar(&o.cgroup, "cgroup", "", "with -endpoint: cgroupfs path whose cpuacct cgroup holds the runtime's daemon; pods are placed below it")
	flag.IntVar(&o.daemonPID, "daemon-pid", 0, "with -endpoint: the runtime daemon's PID (the other processes in -cgroup count as shims)")
	flag.StringVar(&o.krillBin, "krill-bin", "bin", "directory of krilld, krill-shim, krill-pause")
	flag.StringVar(&o.containerdBin, "containerd-bin", "/var/cache/krill-test-containerd/v2.4.2", "directory of containerd and containerd-shim-runc-v2 (hack/build-containerd.sh)")
	flag.StringVar(&o.runc, "runc", "/usr/sbin/runc", "runc binary of both runtimes")
	flag.StringVar(&o.testDir, "test-dir", "test", "the repository's test/ directory (images/serve.sh, images/mirrors.sh)")
	flag.StringVar(&o.runtimes, "runtimes", "krill,containerd", "runtimes compared, in this order (the ratio is first / second): krill, containerd, or krill=DIR (the build in DIR, e.g. to compare two builds); one alone measures just it")
	flag.StringVar(&o.logDir, "log-dir", "test/out/benchcmp", "where the runtimes' logs of the last run are kept")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "benchcmp: needs root (cgroups, runtimes)")
		os.Exit(1)
	}
	var err error
	if o.endpoint != "" {
		err = single(&o)
	} else {
		err = compare(&o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchcmp: %v\n", err)
		os.Exit(1)
	}
}

// workload is the workload the flags describe, for one runtime and round.
func (o *options) workload(endpoint, cgroup string, daemonPID, round int, logDir string) *workload {
	return &workload{
		Endpoint: endpoint, Image: o.image, PauseImage: o.pauseImage,
		Cgroup: cgroup, DaemonPID: daemonPID, LogDir: logDir, Tag: fmt.Sprintf("r%d", round),
		Sequential: o.sequential, Bursts: o.bursts, BurstSize: o.burstSize, Kept: o.kept,
		StatsCalls: o.statsCalls, Idle: o.idle, RPCTimeout: 2 * time.Minute,
	}
}

// single measures the runtime at -endpoint for -rounds rounds.
func single(o *options) error {
	logDir, err := os.MkdirTemp("", "benchcmp-logs")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	var rounds []*result
	var w *workload
	for r := 1; r <= o.rounds; r++ {
		w = o.workload(o.endpoint, o.cgroup, o.daemonPID, r, filepath.Join(logDir, fmt.Sprint(r)))
		res, err := measure(w)
		if err != nil {
			return err
		}
		res.Runtime, res.Round = o.endpoint, r
		rounds = append(rounds, res)
	}
	printTable(os.Stdout, figures(w), []string{o.endpoint}, map[string][]*result{o.endpoint: rounds})
	fmt.Println()
	printRaw(os.Stdout, figures(w), rounds)
	return nil
}

// measure connects, pulls the images and runs one round.
func measure(w *workload) (*result, error) {
	conn, err := w.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := w.prepare(); err != nil {
		return nil, err
	}
	return w.run()
}
