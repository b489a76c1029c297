package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// asNobody runs a shell command as the host user nobody, with no groups.
func asNobody(t *testing.T, script string) (string, error) {
	t.Helper()
	out, err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"/bin/sh", "-c", script).CombinedOutput()
	return string(out), err
}

// TestHostUserCannotReachContainerFiles: an unprivileged host user can
// neither read nor run anything in a running container's rootfs (an
// image's setuid-root binary would be a local root exploit otherwise,
// containerd CVE-2021-41103), the image store's blobs and layers, or the
// pod's /dev/shm.
func TestHostUserCannotReachContainerFiles(t *testing.T) {
	e := newEnv(t)
	// MkdirTemp made the test dir 0700, which alone would hide everything:
	// open it up like /var/lib and /run are.
	if err := os.Chmod(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	e.reg.Push(t, "e2e/suid", "1", &testregistry.Image{
		Config: ocispec.ImageConfig{Env: []string{"PATH=/bin"}},
		Layers: [][]byte{testregistry.Tar(
			testregistry.File{Name: "bin/", Type: '5'},
			testregistry.File{Name: "bin/busybox", Body: bb, Mode: 0o755},
			testregistry.File{Name: "bin/sh", Type: '2', Linkname: "busybox"},
			testregistry.File{Name: "bin/sleep", Type: '2', Linkname: "busybox"},
			testregistry.File{Name: "bin/rootshell", Body: bb, Mode: 0o4755},
		)},
	})
	suid := e.reg.Ref("e2e/suid:1")
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: suid}}); err != nil {
		t.Fatal(err)
	}
	podID, podCfg := e.pod("hostuser")
	r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: podCfg,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "suid"},
			Image:    &runtime.ImageSpec{Image: suid},
			Command:  []string{"sleep", "3600"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(e.dir, "state", "containers", r.ContainerId, "rootfs")
	shm := filepath.Join(e.dir, "state", "pods", podID, "shm")
	// Control: root sees the files, so a refusal below is about permissions.
	for _, p := range []string{filepath.Join(rootfs, "bin", "rootshell"), shm, filepath.Join(e.dir, "root", "images", "content", "blobs", "sha256")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("control: %v", err)
		}
	}
	// The control for nobody: the test directory itself is reachable.
	if out, err := asNobody(t, "ls "+e.dir); err != nil {
		t.Fatalf("control: nobody cannot list %s: %v %s", e.dir, err, out)
	}
	snapshots, _ := filepath.Glob(filepath.Join(e.dir, "root", "images", "snapshots", "snapshots", "*", "fs", "bin", "rootshell"))
	if len(snapshots) == 0 {
		t.Fatal("control: no unpacked layer holds bin/rootshell")
	}
	for _, script := range []string{
		"ls " + rootfs + "/bin",
		"cat " + rootfs + "/bin/rootshell >/dev/null",
		rootfs + "/bin/rootshell id -u",
		snapshots[0] + " id -u",
		"ls " + filepath.Join(e.dir, "root", "images", "content", "blobs", "sha256"),
		"ls " + filepath.Join(e.dir, "root", "images", "snapshots"),
		"ls " + shm,
		"touch " + shm + "/planted",
		"ls " + filepath.Join(e.dir, "state", "shims"),
	} {
		if out, err := asNobody(t, script); err == nil {
			t.Errorf("as nobody, %q succeeded: %s", script, out)
		} else if !strings.Contains(out, "Permission denied") {
			t.Errorf("as nobody, %q failed for another reason than permissions: %s", script, out)
		}
	}
	// The CRI socket is root's and its group's only (0660): whoever can
	// talk to it can run privileged containers.
	if st, err := os.Stat(e.sock); err != nil || st.Mode().Perm()&0o007 != 0 {
		t.Errorf("CRI socket %s: mode %v, %v; want no access for others", e.sock, st.Mode(), err)
	}
	if out, err := asNobody(t, "test -w "+e.sock); err == nil {
		t.Errorf("nobody may write to the CRI socket: %s", out)
	}
	// No descriptor of krilld, the shim or runc leaks into the container.
	if out := e.exec(r.ContainerId, "sh", "-c", "cd /proc/1/fd && echo *"); out != "0 1 2" {
		t.Errorf("container init holds fds %q, want only 0 1 2", out)
	}
	// Inside the container the rootfs is not nosuid: kubelet's
	// allowPrivilegeEscalation defaults to true and critest checks a setuid
	// binary escalates; the host side is closed by directory modes instead.
	if out := e.exec(r.ContainerId, "sh", "-c", "test -u /bin/rootshell && grep ' / / ' /proc/self/mountinfo"); strings.Contains(out, "nosuid") || out == "" {
		t.Fatalf("container rootfs mount: %q", out)
	}
}

// TestFifoPasswdRefused: an image whose /etc/passwd is a FIFO makes
// CreateContainer fail at once with InvalidArgument (it used to block
// forever, holding the rootfs mount, the snapshot and the name), and leaves
// nothing behind: the same name is free for a good image right after.
func TestFifoPasswdRefused(t *testing.T) {
	e := newEnv(t)
	e.reg.Push(t, "e2e/fifo", "1", &testregistry.Image{
		Config: ocispec.ImageConfig{Cmd: []string{"/bin/sh"}, User: "app"},
		Layers: [][]byte{testregistry.Tar(
			testregistry.File{Name: "etc/", Type: '5'},
			testregistry.File{Name: "etc/passwd", Type: '6'},
		)},
	})
	fifo := e.reg.Ref("e2e/fifo:1")
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: fifo}}); err != nil {
		t.Fatal(err)
	}
	podID, podCfg := e.pod("fifo")
	cfg := &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: "fifo"},
		Image:    &runtime.ImageSpec{Image: fifo},
	}
	snapsBefore := snapshotDirs(t, e)
	done := make(chan error, 1)
	go func() {
		_, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg})
		done <- err
	}()
	select {
	case err := <-done:
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("create with a FIFO /etc/passwd: %v, want InvalidArgument", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a speed target
		t.Fatal("CreateContainer blocked on the image's FIFO /etc/passwd")
	}
	containers := filepath.Join(e.dir, "state", "containers")
	if bundles, _ := os.ReadDir(containers); len(bundles) != 0 {
		t.Fatalf("failed create left bundles: %v", bundles)
	}
	if m := mountsUnder(t, containers); len(m) != 0 {
		t.Fatalf("failed create left mounts: %v", m)
	}
	// Snapshots are freed by the image store's background collector
	// (image/gc.go), a moment after the failed create gave its one up.
	if !testregistry.WaitFor(10*time.Second, func() bool { return snapshotDirs(t, e) == snapsBefore }) {
		t.Fatalf("%d snapshots after the failed create, %d before", snapshotDirs(t, e), snapsBefore)
	}
	cfg.Image.Image = e.image
	cfg.Command = []string{"sleep", "3600"}
	if _, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: podCfg, Config: cfg}); err != nil {
		t.Fatalf("the name is still held after the refused create: %v", err)
	}
}

// snapshotDirs counts the overlay snapshotter's snapshots (layers and
// rootfs).
func snapshotDirs(t *testing.T, e *env) int {
	t.Helper()
	d, err := os.ReadDir(filepath.Join(e.dir, "root", "images", "snapshots", "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// TestLogPathEscapes: a container log_path that climbs out of the pod's
// log directory or is absolute is refused with InvalidArgument, and a
// symlink planted in the log directory is not followed: the shim, as root,
// would otherwise create or append to any file on the host.
func TestLogPathEscapes(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("logs")
	outside := filepath.Join(e.dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(podCfg.LogDirectory, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(podCfg.LogDirectory, "linked.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(podCfg.LogDirectory, "linkdir")); err != nil {
		t.Fatal(err)
	}
	for i, logPath := range []string{"../../outside/x.log", filepath.Join(outside, "abs.log"), "linked.log", "linkdir/0.log"} {
		_, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: "log" + strconv.Itoa(i)},
				Image:    &runtime.ImageSpec{Image: e.image},
				Command:  []string{"echo", "planted"},
				LogPath:  logPath,
			},
		})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("log_path %q: %v, want InvalidArgument", logPath, err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("file behind the symlink changed: %q", b)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("files created outside the log directory: %v", entries)
	}
	// Control: a kubelet-style path works and its directory is created.
	e.container(podID, podCfg, "ok", []string{"echo", "hello"})
	if !testregistry.WaitFor(20*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(podCfg.LogDirectory, "ok.log"))
		return strings.Contains(string(b), "stdout F hello")
	}) {
		t.Fatal("control container's log never showed its output")
	}
}

// TestPausePIDReuse: when the pod record's pause pid names another process
// (pause died and the pid was reused), CreateContainer refuses with
// FailedPrecondition instead of joining that stranger's IPC, UTS and PID
// namespaces. The stranger here even sits in a cgroup named after the pod,
// which the older check (pid alive, in the pod's cgroup) accepted; only
// the start time recorded at RunPodSandbox tells it from pause.
func TestPausePIDReuse(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("reuse")
	stranger := exec.Command("unshare", "--ipc", "--uts", "sleep", "600")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join("/sys/fs/cgroup/pids", "krill-e2e-stranger-"+podID)
	t.Cleanup(func() {
		stranger.Process.Kill()
		stranger.Wait()
		os.Remove(cg)
	})
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(stranger.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	recPath := filepath.Join(e.dir, "root", "pods", podID, "pod.json")
	b, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Version int                    `json:"version"`
		Record  map[string]interface{} `json:"record"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Record["pause_pid"] = stranger.Process.Pid
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	e.kill()
	err = os.WriteFile(recPath, b, 0o600)
	e.start()
	if err != nil {
		t.Fatal(err)
	}
	e.start()

	_, err = e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: podCfg,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "joiner"},
			Image:    &runtime.ImageSpec{Image: e.image},
			Command:  []string{"sleep", "3600"},
		},
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("create in a pod whose pause pid was reused: %v, want FailedPrecondition", err)
	}
	if m := mountsUnder(t, filepath.Join(e.dir, "state", "containers")); len(m) != 0 {
		t.Fatalf("refused create left mounts: %v", m)
	}
}
