package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// TestPodSharesNetworkIPCAndHostname: two containers of one pod reach each
// other over 127.0.0.1, see the same SysV shared memory segment and the
// same hostname, because both joined the pause container's namespaces.
func TestPodSharesNetworkIPCAndHostname(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("share")
	web := filepath.Join(e.dir, "www")
	os.MkdirAll(web, 0o755)
	os.WriteFile(filepath.Join(web, "index.html"), []byte("hello from server\n"), 0o644)
	server := e.container(podID, podCfg, "server", []string{"httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"},
		&runtime.Mount{HostPath: web, ContainerPath: "/www", Readonly: true})
	client := e.container(podID, podCfg, "client", []string{"sleep", "3600"})

	var got string
	testregistry.WaitFor(10*time.Second, func() bool {
		r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: client, Cmd: []string{"wget", "-q", "-O-", "http://127.0.0.1:8080/index.html"}, Timeout: 5})
		if err == nil {
			got = string(r.Stdout)
		}
		return strings.Contains(got, "hello from server")
	})
	if !strings.Contains(got, "hello from server") {
		t.Fatalf("client could not reach server over localhost: %q", got)
	}

	id := e.exec(server, "/bin/shmcreate")
	shm := e.exec(client, "cat", "/proc/sysvipc/shm")
	if !strings.Contains(shm, "1802660204") { // 0x6b72696c, the helper's key
		t.Fatalf("segment %s made in server not visible in client:\n%s", id, shm)
	}
	if h1, h2 := e.exec(server, "hostname"), e.exec(client, "hostname"); h1 != "share-host" || h2 != "share-host" {
		t.Fatalf("hostnames %q and %q, want share-host", h1, h2)
	}
	// A second pod is isolated: it does not see the segment.
	pod2, pod2Cfg := e.pod("other")
	other := e.container(pod2, pod2Cfg, "other", []string{"sleep", "3600"})
	if shm := e.exec(other, "cat", "/proc/sysvipc/shm"); strings.Contains(shm, "1802660204") {
		t.Fatalf("another pod sees the segment:\n%s", shm)
	}
}

// TestEmptyDirSharedBetweenContainers: kubelet's emptyDir is a host
// directory mounted into each container; a file one writes the other reads.
func TestEmptyDirSharedBetweenContainers(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("emptydir")
	dir := filepath.Join(e.dir, "volumes", "cache")
	os.MkdirAll(dir, 0o777)
	m := func(ro bool) *runtime.Mount {
		return &runtime.Mount{HostPath: dir, ContainerPath: "/cache", Readonly: ro}
	}
	writer := e.container(podID, podCfg, "writer", []string{"sh", "-c", "echo written-by-writer > /cache/note; sleep 3600"}, m(false))
	reader := e.container(podID, podCfg, "reader", []string{"sleep", "3600"}, m(true))
	var got string
	testregistry.WaitFor(10*time.Second, func() bool {
		r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: reader, Cmd: []string{"cat", "/cache/note"}, Timeout: 5})
		if err == nil {
			got = strings.TrimSpace(string(r.Stdout))
		}
		return got == "written-by-writer"
	})
	if got != "written-by-writer" {
		t.Fatalf("reader read %q", got)
	}
	// The reader's mount is read-only.
	r, err := e.rt.ExecSync(e.ctx(), &runtime.ExecSyncRequest{ContainerId: reader, Cmd: []string{"sh", "-c", "echo x > /cache/other"}, Timeout: 5})
	if err != nil || r.ExitCode == 0 {
		t.Fatalf("write through a read-only mount: err=%v exit=%d", err, r.GetExitCode())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "note")); strings.TrimSpace(string(b)) != "written-by-writer" {
		t.Fatalf("host sees %q", b)
	}
	_ = writer
}
