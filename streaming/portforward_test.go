package streaming

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// echoHelperEnv makes the test binary an echo server (see TestMain); the
// test starts it inside the namespace with `ip netns exec`, so the server
// side does not use the namespace code under test.
const echoHelperEnv = "KRILL_STREAMING_ECHO_PORT"

func TestMain(m *testing.M) {
	if port := os.Getenv(echoHelperEnv); port != "" {
		runEchoServer(port)
		return
	}
	os.Exit(m.Run())
}

// runEchoServer echoes every connection until the client half-closes, then
// writes "BYE\n" and closes: the reply only arrives if the client's FIN is
// passed through.
func runEchoServer(port string) {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
			io.WriteString(c, "BYE\n")
		}()
	}
}

// testNetNS creates a network namespace with loopback up and an echo
// server on 127.0.0.1:port inside it; everything is removed at cleanup.
func testNetNS(t *testing.T, port int) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "krtest-" + hex.EncodeToString(b)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	run("-n", name, "link", "set", "lo", "up")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", name, self)
	cmd.Env = append(os.Environ(), echoHelperEnv+"="+strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // our own child, by PID (ip netns exec execs into it)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("echo server in %s: %q %v", name, line, err)
	}
	return filepath.Join("/run/netns", name)
}

// hostDecoy listens on 127.0.0.1 of the host and answers "HOST\n": it takes
// a free port that the pod namespace then reuses, so a forward that dials
// in the wrong namespace gets the wrong answer instead of a refusal.
func hostDecoy(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "HOST\n")
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// forwardPort starts client-go's port forwarder (what kubectl and crictl
// use) on a free local port and returns that port.
func forwardPort(t *testing.T, s *Server, podID string, port int) int {
	t.Helper()
	resp, err := s.GetPortForward(&runtime.PortForwardRequest{PodSandboxId: podID, Port: []int32{int32(port)}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(resp.Url)
	if err != nil {
		t.Fatal(err)
	}
	rt, upgrader, err := spdy.RoundTripperFor(&rest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port forward: %v", err)
	}
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("port forward ended with %v", err)
		}
	})
	ports, err := pf.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	return int(ports[0].Local)
}

// roundTrip sends payload, half-closes and reads until the other side
// closes.
func roundTrip(t *testing.T, port int, payload []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	return got
}

func TestPortForwardIntoNetNS(t *testing.T) {
	port := hostDecoy(t)
	b := newFakeBackend()
	b.pods["pod1"] = testNetNS(t, port)
	s := startServer(t, b)

	local := forwardPort(t, s, "pod1", port)
	big := make([]byte, 4<<20)
	rand.Read(big)
	// Several connections over one forward session, each a fresh dial in
	// the namespace; the large one checks that nothing is lost or reordered.
	for i, payload := range [][]byte{[]byte("ping"), big, []byte("again"), nil} {
		got := roundTrip(t, local, payload)
		want := append(append([]byte{}, payload...), "BYE\n"...)
		if !bytes.Equal(got, want) {
			t.Fatalf("connection %d: got %d bytes (%.20q...), want the echo of %d bytes and BYE", i, len(got), got, len(payload))
		}
	}

	// A host-network pod is reached on the host's loopback.
	hostLocal := forwardPort(t, s, "hostpod", port)
	if got := roundTrip(t, hostLocal, nil); string(got) != "HOST\n" {
		t.Errorf("host-network pod: got %q, want the host decoy", got)
	}
}

func TestDialPod(t *testing.T) {
	port := hostDecoy(t)
	netns := testNetNS(t, port)
	threads := func() map[string]int {
		m := map[string]int{}
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		for _, p := range tasks {
			if l, err := os.Readlink(p); err == nil {
				m[l]++
			}
		}
		return m
	}
	before := threads()
	if len(before) != 1 {
		t.Fatalf("threads in several network namespaces before the test: %v", before)
	}

	for range 50 {
		c, err := dialPod(context.Background(), netns, port)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// Every thread is back in the host namespace (or gone).
	after := threads()
	for ns := range after {
		if _, ok := before[ns]; !ok {
			t.Errorf("a thread was left in network namespace %s: %v", ns, after)
		}
	}

	// Nothing listens on port+1 in the pod (the helper only took port).
	free := port + 1
	if _, err := dialPod(context.Background(), netns, free); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: got %v, want connection refused", err)
	}
	if _, err := dialPod(context.Background(), "/run/netns/krtest-does-not-exist", port); !errdefs.IsNotFound(err) {
		t.Errorf("missing namespace: got %v, want not found", err)
	}
	if _, err := dialPod(context.Background(), "/etc/hostname", port); err == nil || !strings.Contains(err.Error(), "join network namespace") {
		t.Errorf("not a namespace: got %v", err)
	}
}
