package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// TestSurvivesDaemonKill SIGKILLs krilld with 10 pods running, restarts
// it, and checks that every pod and container is in the right state, that
// logs went on without a gap while krilld was down, and that a container
// which exited meanwhile is reported with its exit code.
func TestSurvivesDaemonKill(t *testing.T) {
	e := newEnv(t)
	type ctr struct{ pod, id, log string }
	var counters []ctr
	for i := 0; i < 10; i++ {
		podID, podCfg := e.pod(fmt.Sprintf("survivor-%d", i))
		id := e.container(podID, podCfg, "counter", []string{"sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.05; done"})
		counters = append(counters, ctr{podID, id, e.status(id).LogPath})
	}
	exitPod, exitCfg := e.pod("exits-while-down")
	exiter := e.container(exitPod, exitCfg, "exiter", []string{"sh", "-c", "sleep 2; exit 7"})

	e.kill()
	before := make([]int, len(counters))
	for i, c := range counters {
		before[i] = countLines(t, c.log)
	}
	time.Sleep(3 * time.Second) // the exiter exits while krilld is down
	for i, c := range counters {
		if n := countLines(t, c.log); n <= before[i] {
			t.Errorf("container %s did not log while krilld was down (%d -> %d lines)", c.id, before[i], n)
		}
	}
	e.start()

	pods, err := e.rt.ListPodSandbox(e.ctx(), &runtime.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 11 {
		t.Fatalf("%d pods after restart, want 11", len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.State != runtime.PodSandboxState_SANDBOX_READY {
			t.Errorf("pod %s is %s after restart", p.Metadata.Name, p.State)
		}
	}
	for _, c := range counters {
		if st := e.status(c.id); st.State != runtime.ContainerState_CONTAINER_RUNNING {
			t.Errorf("container %s is %s after restart", c.id, st.State)
		}
	}
	st := e.status(exiter)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 7 || st.Reason != "Error" {
		t.Fatalf("exiter: state %s code %d reason %q, want EXITED 7 Error", st.State, st.ExitCode, st.Reason)
	}
	// Logs continue after the restart, and carry every line: no gap.
	time.Sleep(500 * time.Millisecond)
	for _, c := range counters {
		checkNoGaps(t, c.log)
	}
	// The restarted daemon still controls the recovered containers.
	if _, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: counters[0].id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	ok := testregistry.WaitFor(5*time.Second, func() bool {
		return e.status(counters[0].id).State == runtime.ContainerState_CONTAINER_EXITED
	})
	if !ok {
		t.Fatal("recovered container did not stop")
	}
}

func countLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("log %s: %v", path, err)
	}
	return strings.Count(string(b), "\n")
}

// checkNoGaps reads a CRI log file and checks the counter lines are
// consecutive from line-0 on.
func checkNoGaps(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// <time> <stream> <P|F> <content>
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 || f[1] != "stdout" || f[2] != "F" {
			t.Fatalf("%s: malformed CRI log line %q", path, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Fatalf("%s: bad timestamp in %q", path, line)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(f[3], "line-"))
		if err != nil || n != next {
			t.Fatalf("%s: got %q, want line-%d (gap)", path, f[3], next)
		}
		next++
	}
	if next < 20 {
		t.Fatalf("%s: only %d lines", path, next)
	}
}
