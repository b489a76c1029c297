package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// daemon is one CRI runtime the benchmark started on private paths: its
// own directory, socket, bridge and subnet, and a cgroup that holds its
// whole process tree.
type daemon struct {
	name   string // "krill" or "containerd"
	dir    string // everything of this runtime on disk
	sock   string
	cgroup string // cgroupfs path, e.g. /krill-bench-123/krill
	bridge string
	subnet string
	net    string // CNI network name, unique to this run (libcni's cache in /var/lib/cni is shared)
	argv   []string
	env    []string
	cmd    *exec.Cmd
	conn   *grpc.ClientConn
	label  string // column title: runtime name and version from the Version RPC
}

// conflist is the CNI network both runtimes get: bridge with host-local
// and portmap, no masquerading (pod traffic never leaves this machine).
// No loopback plugin: Krill brings lo up itself, containerd runs its
// built-in loopback network as it always does.
func (d *daemon) conflist() string {
	return fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
 {"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":%q}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":%q}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
`, d.net, d.bridge, d.subnet, filepath.Join(d.dir, "ipam"))
}

// start writes the CNI config, puts a shell into the daemon's cpuacct
// cgroup and execs the daemon from it (so its first instruction already
// runs there, and so does every process it starts), then waits for the
// socket to answer.
func (d *daemon) start() error {
	netd := filepath.Join(d.dir, "net.d")
	if err := os.MkdirAll(netd, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(netd, "10-bench.conflist"), []byte(d.conflist()), 0o644); err != nil {
		return err
	}
	cg := filepath.Join(cpuacctMount, d.cgroup)
	if err := os.MkdirAll(cg, 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(d.dir, d.name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	args := append([]string{"-c", `echo $$ > "$0" && exec "$@"`, filepath.Join(cg, "cgroup.procs")}, d.argv...)
	d.cmd = exec.Command("/bin/sh", args...)
	d.cmd.Env = append(os.Environ(), d.env...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	// Its own process group: a ^C to make reaches the benchmark, which
	// then stops the daemon in order.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	w := &workload{Endpoint: d.sock, RPCTimeout: 10 * time.Second}
	if d.conn, err = w.dial(); err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := w.ctx()
		v, err := w.rt.Version(ctx, &runtime.VersionRequest{})
		cancel()
		if err == nil {
			d.label = v.RuntimeName + " " + v.RuntimeVersion
			return nil
		}
		if time.Now().After(deadline) || d.exited() {
			return fmt.Errorf("%s did not come up (%v); log:\n%s", d.name, err, d.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) exited() bool {
	return syscall.Kill(d.cmd.Process.Pid, 0) != nil
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, d.name+".log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// stop removes what pods are left through the CRI, stops the daemon
// (SIGTERM, SIGKILL after 15 s), then SIGKILLs any process still in its
// cgroup: only processes of this runtime, all started by this benchmark.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	if d.conn != nil {
		rt := runtime.NewRuntimeServiceClient(d.conn)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if pods, err := rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{}); err == nil {
			for _, p := range pods.Items {
				rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.Id})
				rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id})
			}
		}
		cancel()
		d.conn.Close()
	}
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintf(os.Stderr, "benchcmp: %s ignored SIGTERM, killing it\n", d.name)
		d.cmd.Process.Kill()
		<-done
	}
	cg := filepath.Join(cpuacctMount, d.cgroup)
	left := cgroupTreePIDs(cg)
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "benchcmp: %s left %d processes (shims, pods), killing them\n", d.name, len(left))
	}
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Their cgroups can only be removed once they are gone.
	for i := 0; i < 50 && len(cgroupTreePIDs(cg)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	d.removeCNICache()
}

// removeCNICache removes libcni's cached results of this run's network
// (and of containerd's loopback network for the same pods) that a pod
// killed without a CNI DEL left in the shared /var/lib/cni/results.
func (d *daemon) removeCNICache() {
	const dir = "/var/lib/cni/results"
	files, _ := filepath.Glob(filepath.Join(dir, d.net+"-*"))
	for _, f := range files {
		id := strings.TrimPrefix(filepath.Base(f), d.net+"-")
		if i := strings.LastIndex(id, "-"); i > 0 {
			os.Remove(filepath.Join(dir, "cni-loopback-"+id[:i]+"-lo"))
		}
		os.Remove(f)
	}
}
