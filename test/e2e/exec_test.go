package e2e

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExecSyncDrainAndCap: an exec whose process exits while a child it
// left in the background holds stdout (a common exec probe) is answered
// once the drain time (streaming.drain_exec_io_timeout, 3s by default) has
// passed, long before its own timeout, with an error naming the held
// output; the child is left running. And stdout and stderr together keep
// at most 16 MiB, what fits in kubelet's largest message.
func TestExecSyncDrainAndCap(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("execdrain")
	id := e.container(podID, podCfg, "app", []string{"sleep", "3600"})

	start := time.Now()
	_, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "echo hi; sleep 365d &"}, Timeout: 50})
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "held open") || strings.Contains(err.Error(), "timeout 50s") {
		t.Fatalf("exec leaving a child on stdout: %v (after %v), want DeadlineExceeded naming the held output", err, took)
	}
	t.Logf("answered after %v", took)
	if out := e.exec(id, "sh", "-c", "ps -o args | grep -c '^sleep 365d'"); out != "1" {
		t.Errorf("background child: %q running, want it left alone", out)
	}

	const n = 10 << 20
	r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: id, Timeout: 50,
		Cmd: []string{"sh", "-c", "head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2"}},
		grpc.MaxCallRecvMsgSize(16<<20)) // kubelet's limit
	if err != nil || r.ExitCode != 0 {
		t.Fatalf("big output: %v", err)
	}
	if len(r.Stdout) != n || len(r.Stdout)+len(r.Stderr) > 16<<20 || len(r.Stderr) == 0 {
		t.Fatalf("kept %d stdout and %d stderr bytes, want %d and the rest of 16 MiB", len(r.Stdout), len(r.Stderr), n)
	}
}
