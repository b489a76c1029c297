package fault

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestUnreadableRecordsKeepWorkloads: a corrupt container record is
// quarantined and its running container left alone (not torn down as a
// half-made create); a pod record of a newer version stops krilld with a
// message naming the file. Putting the record back brings it all back.
func TestUnreadableRecordsKeepWorkloads(t *testing.T) {
	e := newEnv(t, options{})
	podID, podCfg := e.pod("records")
	id := e.container(podID, podCfg, "c", "sleep", "3600")
	initPid := readPid(t, filepath.Join(e.state, "shims", id, "init.pid"))
	e.kill()

	record := filepath.Join(e.root, "containers", id, "container.json")
	good, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(record, []byte("{garbage"), 0o600)
	e.start()
	if syscall.Kill(initPid, 0) != nil {
		t.Fatal("the container of a corrupt record was killed")
	}
	if _, err := os.Stat(filepath.Join(e.state, "containers", id, "rootfs", "bin")); err != nil {
		t.Fatalf("the rootfs of a quarantined container was taken away: %v", err)
	}
	quarantined := filepath.Join(e.root, "quarantine", "containers", id, "container.json")
	if _, err := os.Stat(quarantined); err != nil {
		t.Fatalf("corrupt record not kept in quarantine: %v", err)
	}
	e.checkLeaks()

	// A newer pod record: krilld refuses to start and says which file.
	e.kill()
	podRecord := filepath.Join(e.root, "pods", podID, "pod.json")
	podGood, _ := os.ReadFile(podRecord)
	os.WriteFile(podRecord, []byte(strings.Replace(string(podGood), `"version":1`, `"version":99`, 1)), 0o600)
	if err := e.startNoWait(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.d.Cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(e.log(), podRecord) {
			t.Fatalf("krilld with a newer record: %v, log does not name %s:\n%s", err, podRecord, tail(e.log(), 10))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("krilld started over a record of a newer version")
	}
	if syscall.Kill(initPid, 0) != nil {
		t.Fatal("the container died when krilld refused to start")
	}

	// Put both back: everything is as before.
	os.WriteFile(podRecord, podGood, 0o600)
	os.MkdirAll(filepath.Dir(record), 0o700)
	os.WriteFile(record, good, 0o600)
	os.RemoveAll(filepath.Join(e.root, "quarantine", "containers", id))
	e.start()
	if st := e.status(id); st.State != runtime.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("restored container is %s", st.State)
	}
	e.checkLeaks()
}

// TestContainerOfRemovedPod: a container record whose pod record is gone
// (what a RemovePodSandbox racing a CreateContainer left before pods had a
// gate) is removed by recovery, with its shim, cgroup and rootfs.
func TestContainerOfRemovedPod(t *testing.T) {
	e := newEnv(t, options{})
	podID, podCfg := e.pod("gone")
	e.container(podID, podCfg, "c", "sleep", "3600")
	e.kill()
	os.RemoveAll(filepath.Join(e.root, "pods", podID))
	e.start()
	ctrs, err := e.rt.ListContainers(e.ctx(), &runtime.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs.Containers) != 0 {
		t.Fatalf("containers of a removed pod survived recovery: %v", ctrs.Containers)
	}
	e.checkLeaks()
}

// TestRemovePodRacesCreate: RemovePodSandbox and CreateContainer at the
// same time never leave a container without its pod. A slow `runc create`
// holds the create open while the removal comes in.
func TestRemovePodRacesCreate(t *testing.T) {
	e := newEnv(t, options{})
	for i := 0; i < 4; i++ {
		podID, podCfg := e.pod("race")
		e.hook("runc.create", "sleep 1")
		created := make(chan struct{})
		go func() {
			defer close(created)
			e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
				PodSandboxId: podID, Config: e.containerConfig("c", "sleep", "3600"), SandboxConfig: podCfg,
			})
		}()
		time.Sleep(time.Duration(300+i*100) * time.Millisecond)
		if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
			t.Fatal(err)
		}
		<-created
		ctrs, err := e.rt.ListContainers(e.ctx(), &runtime.ListContainersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ctrs.Containers) != 0 {
			t.Fatalf("round %d: a container outlived its pod: %v", i, ctrs.Containers)
		}
	}
	e.checkLeaks()
}

// TestHungPluginDuringRecovery: a CNI plugin that hangs in the DEL that
// recovery runs for a half-made pod does not keep krilld from serving;
// the DEL is tried again at the next start, and then nothing is left.
func TestHungPluginDuringRecovery(t *testing.T) {
	e := newEnv(t, options{})
	e.hook("bridge.ADD", killAfter)
	e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: e.podConfig("hung", 30081)})
	e.reap()
	e.hook("bridge.DEL", hang)
	e.start() // waits up to 2 minutes: recovery gives the DEL CleanupTimeout
	if !e.fired("bridge.DEL") {
		t.Fatal("recovery did not run DEL")
	}
	e.restart()
	e.checkLeaks()
}

// TestTempMountOfKilledUnpack: a containerd temp mount a krilld killed
// during an unpack left is unmounted at the next start.
func TestTempMountOfKilledUnpack(t *testing.T) {
	e := newEnv(t, options{})
	e.kill()
	m := filepath.Join(e.root, "images", "tmpmounts", "containerd-mount123")
	os.MkdirAll(m, 0o700)
	if err := syscall.Mount("tmpfs", m, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	e.start()
	if _, err := os.Stat(m); !os.IsNotExist(err) {
		syscall.Unmount(m, syscall.MNT_DETACH)
		t.Fatalf("temp mount left: %v", err)
	}
}

// TestFailedPodStepsLeaveNothing: RunPodSandbox failing at each runc and
// CNI step leaves no pod directory (bundle), netns, IP or rule, with no
// restart in between.
func TestFailedPodStepsLeaveNothing(t *testing.T) {
	e := newEnv(t, options{})
	for _, h := range []string{"runc.run", "bridge.ADD", "portmap.ADD"} {
		e.hook(h, failVerb)
		if _, err := e.rt.RunPodSandbox(e.ctx(), &runtime.RunPodSandboxRequest{Config: e.podConfig("failing", 30082)}); err == nil {
			t.Fatalf("%s: RunPodSandbox ignored a failure", h)
		}
		e.checkLeaks()
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmtSscan(strings.TrimSpace(string(b)), &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}
