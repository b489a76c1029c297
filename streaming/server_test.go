package streaming

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	clientexec "k8s.io/client-go/util/exec"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func startServer(t *testing.T, b Backend) *Server {
	t.Helper()
	s, err := New(Config{}, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// stream runs one session against rawURL with client-go's SPDY executor, as
// crictl and kubectl do.
func stream(t *testing.T, rawURL string, opts remotecommand.StreamOptions) error {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := remotecommand.NewSPDYExecutor(&rest.Config{}, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, opts)
}

func getExec(t *testing.T, s *Server, req *runtime.ExecRequest) string {
	t.Helper()
	resp, err := s.GetExec(req)
	if err != nil {
		t.Fatalf("GetExec(%v): %v", req, err)
	}
	return resp.Url
}

func TestExecStreams(t *testing.T) {
	s := startServer(t, newFakeBackend())
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q: want http://127.0.0.1:<port>", s.URL())
	}

	tests := []struct {
		name       string
		cmd        string
		stdin      string
		wantOut    string
		wantErrOut string
		wantCode   int
	}{
		{name: "stdout and stderr", cmd: "echo out; echo err >&2", wantOut: "out\n", wantErrOut: "err\n"},
		{name: "stdin to stdout", cmd: "tr a-z A-Z", stdin: "hello\n", wantOut: "HELLO\n"},
		{name: "exit code", cmd: "echo bye; exit 3", wantOut: "bye\n", wantCode: 3},
		{name: "killed by signal", cmd: "kill -9 $$", wantCode: 137},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"/bin/sh", "-c", tc.cmd},
				Stdin: tc.stdin != "", Stdout: true, Stderr: true})
			var out, errOut bytes.Buffer
			opts := remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}
			if tc.stdin != "" {
				opts.Stdin = strings.NewReader(tc.stdin)
			}
			err := stream(t, u, opts)
			if tc.wantCode == 0 && err != nil {
				t.Fatalf("stream: %v", err)
			}
			if tc.wantCode != 0 {
				var ee clientexec.ExitError
				if !errors.As(err, &ee) || ee.ExitStatus() != tc.wantCode {
					t.Fatalf("stream error %v (%T): want exit code %d", err, err, tc.wantCode)
				}
			}
			if out.String() != tc.wantOut || errOut.String() != tc.wantErrOut {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errOut.String(), tc.wantOut, tc.wantErrOut)
			}
		})
	}
}

type fixedSize struct{ sent bool }

func (f *fixedSize) Next() *remotecommand.TerminalSize {
	if f.sent {
		return nil
	}
	f.sent = true
	return &remotecommand.TerminalSize{Width: 123, Height: 45}
}

func TestExecTTY(t *testing.T) {
	s := startServer(t, newFakeBackend())
	u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"/bin/sh", "-c", "stty size; test -t 0 && echo tty"},
		Tty: true, Stdout: true})
	var out bytes.Buffer
	if err := stream(t, u, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: &fixedSize{}}); err != nil {
		t.Fatal(err)
	}
	// A terminal turns \n into \r\n.
	if got := strings.ReplaceAll(out.String(), "\r", ""); got != "45 123\ntty\n" {
		t.Errorf("tty output %q, want window size 45 123 and a terminal", got)
	}
}

func TestAttach(t *testing.T) {
	s := startServer(t, newFakeBackend())
	resp, err := s.GetAttach(&runtime.AttachRequest{ContainerId: "c1", Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := stream(t, resp.Url, remotecommand.StreamOptions{Stdin: strings.NewReader("typed\n"), Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "attached to c1\ntyped\n" || errOut.String() != "stderr of c1\n" {
		t.Errorf("attach stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestTokenSingleUse(t *testing.T) {
	b := newFakeBackend()
	s := startServer(t, b)
	u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"true"}, Stdout: true})
	if err := stream(t, u, remotecommand.StreamOptions{Stdout: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if err := stream(t, u, remotecommand.StreamOptions{Stdout: io.Discard}); err == nil {
		t.Fatal("second use of an exec URL succeeded")
	}
	if n := b.execs.Load(); n != 1 {
		t.Errorf("backend ran %d execs, want 1", n)
	}
	// A plain request with the used token is refused too.
	resp, err := http.Post(u, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("reused token: HTTP %d, want 404", resp.StatusCode)
	}
	// An exec token is not a port-forward token.
	u2 := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"true"}, Stdout: true})
	resp, err = http.Post(strings.Replace(u2, "/exec/", "/portforward/", 1), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("exec token on /portforward: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestRequestValidation(t *testing.T) {
	s, err := New(Config{}, newFakeBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	sh := []string{"sh"}
	tests := []struct {
		name string
		call func() error
		is   func(error) bool
	}{
		{"exec nil", func() error { _, err := s.GetExec(nil); return err }, errdefs.IsInvalidArgument},
		{"exec no container", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{Cmd: sh, Stdout: true})
			return err
		}, errdefs.IsInvalidArgument},
		{"exec no cmd", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{ContainerId: "c1", Stdout: true})
			return err
		}, errdefs.IsInvalidArgument},
		{"exec no streams", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{ContainerId: "c1", Cmd: sh})
			return err
		}, errdefs.IsInvalidArgument},
		{"exec tty with stderr", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{ContainerId: "c1", Cmd: sh, Tty: true, Stdout: true, Stderr: true})
			return err
		}, errdefs.IsInvalidArgument},
		{"exec unknown container", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{ContainerId: "nope", Cmd: sh, Stdout: true})
			return err
		}, errdefs.IsNotFound},
		{"exec stopped container", func() error {
			_, err := s.GetExec(&runtime.ExecRequest{ContainerId: "stopped", Cmd: sh, Stdout: true})
			return err
		}, errdefs.IsFailedPrecondition},
		{"attach tty with stderr", func() error {
			_, err := s.GetAttach(&runtime.AttachRequest{ContainerId: "c1", Tty: true, Stderr: true})
			return err
		}, errdefs.IsInvalidArgument},
		{"attach no streams", func() error {
			_, err := s.GetAttach(&runtime.AttachRequest{ContainerId: "c1"})
			return err
		}, errdefs.IsInvalidArgument},
		{"attach stopped container", func() error {
			_, err := s.GetAttach(&runtime.AttachRequest{ContainerId: "stopped", Stdout: true})
			return err
		}, errdefs.IsFailedPrecondition},
		{"portforward no pod", func() error {
			_, err := s.GetPortForward(&runtime.PortForwardRequest{Port: []int32{80}})
			return err
		}, errdefs.IsInvalidArgument},
		{"portforward bad port", func() error {
			_, err := s.GetPortForward(&runtime.PortForwardRequest{PodSandboxId: "hostpod", Port: []int32{70000}})
			return err
		}, errdefs.IsInvalidArgument},
		{"portforward unknown pod", func() error {
			_, err := s.GetPortForward(&runtime.PortForwardRequest{PodSandboxId: "nope", Port: []int32{80}})
			return err
		}, errdefs.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !tc.is(err) {
				t.Errorf("got %v, want an error of the right errdefs kind", err)
			}
		})
	}
	// The valid forms get URLs on this server.
	if r, err := s.GetExec(&runtime.ExecRequest{ContainerId: "c1", Cmd: sh, Tty: true, Stdin: true}); err != nil || !strings.HasPrefix(r.Url, s.URL()+"/exec/") {
		t.Errorf("valid exec: %v %v", r, err)
	}
	if r, err := s.GetPortForward(&runtime.PortForwardRequest{PodSandboxId: "hostpod"}); err != nil || !strings.HasPrefix(r.Url, s.URL()+"/portforward/") {
		t.Errorf("valid port forward: %v %v", r, err)
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{Address: "localhost"}, newFakeBackend()); !errdefs.IsInvalidArgument(err) {
		t.Errorf("hostname address: %v, want invalid argument", err)
	}
	if _, err := New(Config{}, nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("nil backend: %v, want invalid argument", err)
	}
	s, err := New(Config{Address: "0.0.0.0"}, newFakeBackend())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("wildcard address URL %q: want loopback", s.URL())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second Start: %v", err)
	}
}

// TestStopEndsSessions checks that Stop reaches hijacked connections and
// cancels the Backend's context.
func TestStopEndsSessions(t *testing.T) {
	s, err := New(Config{}, newFakeBackend())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	u := getExec(t, s, &runtime.ExecRequest{ContainerId: "c1", Cmd: []string{"/bin/sh", "-c", "echo $$; exec sleep 60"}, Stdout: true})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- stream(t, u, remotecommand.StreamOptions{Stdout: pw}); pw.Close() }()
	var pid int
	if _, err := fmt.Fscan(pr, &pid); err != nil {
		t.Fatalf("read exec pid: %v", err)
	}
	go io.Copy(io.Discard, pr)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		// client-go reports a closed connection as a clean end; what matters
		// is that the process was killed and reaped.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("exec process %d still exists after Stop (kill 0: %v)", pid, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("session still running 20s after Stop")
	}
}
