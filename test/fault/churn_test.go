package fault

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// churnHooks are the failures the soak injects at random.
var churnHooks = []string{"runc.run", "runc.create", "runc.start", "runc.kill", "bridge.ADD", "portmap.ADD", "host-local.ADD", "bridge.DEL"}

// TestChurn runs FAULT_CHURN pod lifecycles (default 200) on 4 workers,
// injecting a random failure into about a third of them. At the end the
// leak checker is clean and krilld's open fds are back to their level
// after warm-up; threads (the Go runtime keeps idle ones) and RSS are
// logged.
func TestChurn(t *testing.T) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("FAULT_CHURN")); err == nil {
		n = v
	}
	if testing.Short() {
		n = 20
	}
	e := newEnv(t, options{})
	e.lifecycle(t, "warmup", false, 0)
	e.lifecycle(t, "warmup", true, 0)
	fds0, threads0, rss0 := procUsage(t, e.d.Cmd.Process.Pid)

	var failed, injected atomic.Int32
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if rand.Intn(3) == 0 {
					e.hook(churnHooks[rand.Intn(len(churnHooks))], failVerb)
					injected.Add(1)
				}
				if !e.lifecycle(t, fmt.Sprintf("churn-%d", i), i%5 == 0, int32(31000+i)) {
					failed.Add(1)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	// Hooks armed last may not have fired: disarm them.
	for _, h := range churnHooks {
		os.Remove(filepath.Join(e.hooks, h))
	}
	e.removeAll()
	e.checkLeaks()
	fds, threads, rss := procUsage(t, e.d.Cmd.Process.Pid)
	t.Logf("%d lifecycles, %d failures injected, %d lifecycles failed; krilld fds %d -> %d, threads %d -> %d, RSS %d -> %d KiB",
		n, injected.Load(), failed.Load(), fds0, fds, threads0, threads, rss0, rss)
	if fds > fds0+2 {
		t.Errorf("krilld holds %d fds, %d after warm-up", fds, fds0)
	}
}

// lifecycle runs one pod with a container through run, create, start,
// stop and remove. A step failing (an injected fault) is not an error:
// the pod is removed, as kubelet would do, and false returned.
func (e *env) lifecycle(t *testing.T, name string, hostPort bool, port int32) bool {
	ctx := e.ctx()
	var ports []int32
	if hostPort {
		ports = []int32{port}
	}
	cfg := e.podConfig(name, ports...)
	r, err := e.rt.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return false
	}
	defer func() {
		// Retried, as kubelet retries: the workers share the hooks, so
		// injected failures meant for others may hit this removal too.
		var err error
		for try := 0; try < 5; try++ {
			if _, err = e.rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: r.PodSandboxId}); err == nil {
				return
			}
		}
		t.Errorf("remove pod %s: %v", name, err)
	}()
	c, err := e.rt.CreateContainer(ctx, &runtime.CreateContainerRequest{
		PodSandboxId: r.PodSandboxId, Config: e.containerConfig("c", "sleep", "3600"), SandboxConfig: cfg,
	})
	if err != nil {
		return false
	}
	if _, err := e.rt.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return false
	}
	if _, err := e.rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: r.PodSandboxId}); err != nil {
		return false
	}
	return true
}

// procUsage reads krilld's open fds, threads and RSS (KiB) from /proc.
func procUsage(t *testing.T, pid int) (fds, threads, rssKiB int) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		case "VmRSS:":
			rssKiB, _ = strconv.Atoi(f[1])
		}
	}
	return len(entries), threads, rssKiB
}
