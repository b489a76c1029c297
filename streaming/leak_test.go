package streaming

import (
	"bytes"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/remotecommand"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// settle waits for goroutines and fds to come back within slack of their
// starting counts (connections and processes wind down asynchronously).
func settle(t *testing.T, what string, baseG, baseFD int) {
	t.Helper()
	const slackG, slackFD = 10, 4
	var g, fd int
	for range 100 {
		g, fd = goruntime.NumGoroutine(), openFDs(t)
		if g <= baseG+slackG && fd <= baseFD+slackFD {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := goruntime.Stack(buf, true)
	t.Fatalf("after %s: %d goroutines (started with %d), %d fds (started with %d)\n%s", what, g, baseG, fd, baseFD, buf[:n])
}

// TestNoLeaks: 200 exec sessions (stdin, stdout, stderr, non-zero exits),
// 20 attaches, 50 forwarded connections and 50 ExecSyncs leave goroutine
// and fd counts where they started.
func TestNoLeaks(t *testing.T) {
	port := hostDecoy(t)
	b := newFakeBackend()
	b.pods["pod1"] = testNetNS(t, port)
	s := startServer(t, b)
	// Warm up once so lazily started runtime and library goroutines are in
	// the baseline.
	local := forwardPort(t, s, "pod1", port)
	roundTrip(t, local, []byte("warm"))
	u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"true"}, Stdout: true})
	if err := stream(t, u, remotecommand.StreamOptions{Stdout: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	baseG, baseFD := goruntime.NumGoroutine(), openFDs(t)

	for i := range 200 {
		code := i % 3
		u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"/bin/sh", "-c", "cat; echo e >&2; exit " + string(rune('0'+code))},
			Stdin: true, Stdout: true, Stderr: true})
		var out, errOut bytes.Buffer
		err := stream(t, u, remotecommand.StreamOptions{Stdin: strings.NewReader("x"), Stdout: &out, Stderr: &errOut})
		if (err != nil) != (code != 0) || out.String() != "x" || errOut.String() != "e\n" {
			t.Fatalf("exec %d: %v %q %q", i, err, out.String(), errOut.String())
		}
	}
	settle(t, "200 execs", baseG, baseFD)

	for i := range 20 {
		resp, err := s.GetAttach(&runtime.AttachRequest{ContainerId: "c1", Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := stream(t, resp.Url, remotecommand.StreamOptions{Stdin: strings.NewReader("a"), Stdout: &out}); err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
	}
	settle(t, "20 attaches", baseG, baseFD)

	for i := range 50 {
		if got := roundTrip(t, local, []byte("p")); string(got) != "pBYE\n" {
			t.Fatalf("forward %d: %q", i, got)
		}
	}
	settle(t, "50 forwarded connections", baseG, baseFD)

	for i := range 50 {
		if _, _, _, err := ExecSync(t.Context(), b, "c1", []string{"echo", "hi"}, time.Second); err != nil {
			t.Fatalf("exec sync %d: %v", i, err)
		}
	}
	settle(t, "50 ExecSyncs", baseG, baseFD)
}
