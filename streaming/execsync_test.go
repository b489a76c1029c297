package streaming

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestExecSyncOutput(t *testing.T) {
	b := newFakeBackend()
	out, errOut, code, err := ExecSync(context.Background(), b, "c1", []string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" || string(errOut) != "err\n" || code != 3 {
		t.Errorf("got %q %q %d, want \"out\\n\" \"err\\n\" 3", out, errOut, code)
	}
}

func TestExecSyncErrors(t *testing.T) {
	b := newFakeBackend()
	tests := []struct {
		name string
		id   string
		cmd  []string
		is   func(error) bool
	}{
		{"no container id", "", []string{"true"}, errdefs.IsInvalidArgument},
		{"no command", "c1", nil, errdefs.IsInvalidArgument},
		{"unknown container", "nope", []string{"true"}, errdefs.IsNotFound},
		{"stopped container", "stopped", []string{"true"}, errdefs.IsFailedPrecondition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ExecSync(context.Background(), b, tc.id, tc.cmd, time.Second)
			if err == nil || !tc.is(err) {
				t.Errorf("got %v, want an error of the right errdefs kind", err)
			}
		})
	}
	// A command that cannot start is an error, not an exit code.
	if _, _, _, err := ExecSync(context.Background(), b, "c1", []string{"/no/such/binary"}, 0); err == nil {
		t.Error("missing executable: no error")
	}
}

// TestExecSyncTimeout is critest's "execSync with timeout": the call fails
// with a deadline error (codes.DeadlineExceeded via cri/errors.go) and the
// process is gone afterwards.
func TestExecSyncTimeout(t *testing.T) {
	b := newFakeBackend()
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	_, _, _, err := ExecSync(context.Background(), b, "c1", []string{"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 60"}, time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !errdefs.IsDeadlineExceeded(err) {
		t.Fatalf("got %v, want a deadline exceeded error", err)
	}
	if time.Since(start) >= 60*time.Second {
		t.Fatalf("ExecSync waited for the process instead of killing it")
	}
	raw, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("timed-out process %d still exists (kill 0: %v)", pid, err)
	}
}

func TestExecSyncCallerCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, _, err := ExecSync(ctx, newFakeBackend(), "c1", []string{"sleep", "60"}, 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's context error", err)
	}
}

// TestExecSyncOutputCap: a command printing more than the cap on both
// streams completes (it is never blocked on a full buffer), and stdout and
// stderr together keep MaxExecSyncOutput bytes, the first of each stream,
// so the answer fits in kubelet's 16 MiB message.
func TestExecSyncOutputCap(t *testing.T) {
	const n = 10 << 20
	cmd := []string{"/bin/sh", "-c", "head -c " + strconv.Itoa(n) + " /dev/zero; head -c " + strconv.Itoa(n) + " /dev/zero | tr '\\0' e >&2; echo done >&2"}
	out, errOut, code, err := ExecSync(context.Background(), newFakeBackend(), "c1", cmd, 60*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("err %v code %d", err, code)
	}
	if len(out) != n || len(out)+len(errOut) != MaxExecSyncOutput {
		t.Fatalf("kept %d stdout and %d stderr bytes, want %d and %d", len(out), len(errOut), n, MaxExecSyncOutput-n)
	}
	if MaxExecSyncOutput > 16<<20 {
		t.Fatalf("the cap %d does not fit in kubelet's 16 MiB message", MaxExecSyncOutput)
	}
	if cap(out) > MaxExecSyncOutput || cap(errOut) > MaxExecSyncOutput-n {
		t.Errorf("buffers grew to %d/%d bytes, beyond the cap", cap(out), cap(errOut))
	}
	if bytes.Count(errOut, []byte("e")) != len(errOut) {
		t.Errorf("stderr is not the first bytes of the stream")
	}
}

func TestCappedBuffer(t *testing.T) {
	tests := []struct {
		limit  int
		writes []string
		want   string
	}{
		{limit: 5, writes: []string{"abc", "def"}, want: "abcde"},
		{limit: 5, writes: []string{"abcdef", "gh"}, want: "abcde"},
		{limit: 5, writes: []string{"ab", "", "c"}, want: "abc"},
		{limit: 0, writes: []string{"x"}, want: ""},
	}
	for _, tc := range tests {
		c := &cappedBuffer{budget: &outputBudget{left: tc.limit}}
		total := 0
		for _, w := range tc.writes {
			n, err := c.Write([]byte(w))
			if err != nil || n != len(w) {
				t.Errorf("Write(%q) = %d, %v: want full length, no error", w, n, err)
			}
			total += len(w)
		}
		if string(c.buf) != tc.want || cap(c.buf) > tc.limit || c.discarded != int64(total-len(tc.want)) {
			t.Errorf("limit %d writes %q: kept %q (cap %d, discarded %d), want %q", tc.limit, tc.writes, c.buf, cap(c.buf), c.discarded, tc.want)
		}
	}
}
