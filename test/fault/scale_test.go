package fault

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestScaleDaemonKill: 50 pods of 2 containers each, krilld SIGKILLed,
// a quarter of the containers exit while it is down. After the restart
// every pod and container is reported, exits carry their codes and last
// log lines, the others still run and kept logging, and nothing leaked.
func TestScaleDaemonKill(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	const pods = 50
	e := newEnv(t, options{})
	type pod struct {
		id             string
		logger, second string
		loggerLog      string
		exitCode       int // -1: the second container keeps running
	}
	all := make([]pod, pods)
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id, cfg := e.pod(fmt.Sprintf("scale-%d", i))
				p := pod{id: id, exitCode: -1}
				p.logger = e.container(id, cfg, "logger", "sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done")
				p.loggerLog = e.status(p.logger).LogPath
				if i%4 == 0 {
					p.exitCode = 10 + i
					p.second = e.container(id, cfg, "exiter", "sh", "-c", fmt.Sprintf("sleep 6; echo bye-%d; exit %d", i, p.exitCode))
				} else {
					p.second = e.container(id, cfg, "sleeper", "sleep", "3600")
				}
				all[i] = p
			}
		}()
	}
	for i := 0; i < pods; i++ {
		work <- i
	}
	close(work)
	wg.Wait()

	e.kill()
	before := map[string]int{}
	for _, p := range all {
		before[p.id] = logLines(t, p.loggerLog)
	}
	time.Sleep(8 * time.Second) // the exiters exit while krilld is down
	start := time.Now()
	e.start()
	t.Logf("%d pods, %d containers: krilld ready %v after the restart", pods, 2*pods, time.Since(start).Round(time.Millisecond))

	list, err := e.rt.ListPodSandbox(e.ctx(), &runtime.ListPodSandboxRequest{})
	if err != nil || len(list.Items) != pods {
		t.Fatalf("%d pods after restart (%v), want %d", len(list.GetItems()), err, pods)
	}
	for _, p := range all {
		if st := e.status(p.logger); st.State != runtime.ContainerState_CONTAINER_RUNNING {
			t.Errorf("logger %s is %s", p.logger, st.State)
		} else if n := logLines(t, st.LogPath); n <= before[p.id] {
			t.Errorf("logger %s did not log while krilld was down (%d -> %d lines)", p.logger, before[p.id], n)
		}
		st := e.status(p.second)
		switch {
		case p.exitCode < 0 && st.State != runtime.ContainerState_CONTAINER_RUNNING:
			t.Errorf("sleeper %s is %s", p.second, st.State)
		case p.exitCode >= 0 && (st.State != runtime.ContainerState_CONTAINER_EXITED || int(st.ExitCode) != p.exitCode):
			t.Errorf("exiter %s: %s code %d, want EXITED %d", p.second, st.State, st.ExitCode, p.exitCode)
		case p.exitCode >= 0:
			b, _ := os.ReadFile(st.LogPath)
			if !strings.Contains(string(b), fmt.Sprintf("bye-%d", p.exitCode-10)) {
				t.Errorf("exiter %s: last log line missing: %q", p.second, b)
			}
		}
	}
	e.checkLeaks()
	e.removeAll()
	e.checkLeaks()
}

func logLines(t *testing.T, path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}
