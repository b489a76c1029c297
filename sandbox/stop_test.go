package sandbox

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// newTestManager returns a Manager over a temp store holding one READY pod
// that has nothing on the host (host network, pause already removed), so
// Stop and Remove run without root, runc or CNI.
func newTestManager(t *testing.T) (*Manager, string) {
	t.Helper()
	pods, err := store.New[store.Pod](t.TempDir(), "pod.json", "pod sandbox")
	if err != nil {
		t.Fatal(err)
	}
	id := store.NewID()
	if err := pods.Put(store.Pod{
		ID: id, State: runtime.PodSandboxState_SANDBOX_READY, PauseRemoved: true,
		Config: &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u"}},
	}); err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{StateDir: t.TempDir(), NetnsDir: t.TempDir(), Pods: pods})
	if err != nil {
		t.Fatal(err)
	}
	return m, id
}

// Stop stops the containers before anything else, and a failure there
// leaves the pod READY for kubelet's retry.
func TestStopContainersFirst(t *testing.T) {
	m, id := newTestManager(t)
	ctrs := &fakeContainers{stopErr: errors.New("runc hung")}
	if err := m.Stop(context.Background(), id, ctrs); err == nil {
		t.Fatal("Stop succeeded although its containers did not stop")
	}
	if p, _ := m.Get(id); p.State != runtime.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod %v after a failed Stop, want READY", p.State)
	}
	ctrs.stopErr = nil
	if err := m.Stop(context.Background(), id, ctrs); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Get(id); p.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("pod %v after Stop, want NOTREADY", p.State)
	}
	if got := ctrs.got(); !slices.Equal(got, []string{"stop " + id, "stop " + id}) {
		t.Fatalf("calls %v", got)
	}
	// A stopped pod refuses new containers.
	if _, _, err := m.Use(id); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Use of a stopped pod: %v, want failed precondition", err)
	}
}

// Remove stops first, then removes the containers, then forgets the pod;
// a second Remove and a Stop of the removed pod succeed without calls.
func TestRemoveOrderAndIdempotency(t *testing.T) {
	m, id := newTestManager(t)
	ctrs := &fakeContainers{}
	if err := m.Remove(context.Background(), id, ctrs); err != nil {
		t.Fatal(err)
	}
	if got := ctrs.got(); !slices.Equal(got, []string{"stop " + id, "remove " + id}) {
		t.Fatalf("calls %v, want stop then remove", got)
	}
	if _, err := m.Get(id); !errdefs.IsNotFound(err) {
		t.Fatalf("record after Remove: %v", err)
	}
	if err := m.Remove(context.Background(), id, ctrs); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := m.Stop(context.Background(), id, ctrs); err != nil {
		t.Fatalf("Stop after Remove: %v", err)
	}
	if n := len(ctrs.got()); n != 2 {
		t.Fatalf("%d calls after the pod was gone", n-2)
	}
}

// A container create holding the pod (Use) keeps Stop from listing the
// pod's containers until it is done, so no container escapes the stop.
func TestStopWaitsForCreate(t *testing.T) {
	m, id := newTestManager(t)
	_, release, err := m.Use(id)
	if err != nil {
		t.Fatal(err)
	}
	ctrs := &fakeContainers{}
	done := make(chan error, 1)
	go func() { done <- m.Stop(context.Background(), id, ctrs) }()
	time.Sleep(100 * time.Millisecond) // give Stop the chance to run ahead (it must not)
	if got := ctrs.got(); len(got) != 0 {
		t.Fatalf("Stop reached the containers while a create held the pod: %v", got)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ctrs.got(); len(got) != 1 {
		t.Fatalf("calls %v", got)
	}
}

// Stop tears the network down once: CNI DEL, then the netns; a second
// Stop finds the network gone and does not DEL again.
func TestStopTearsNetworkDownOnce(t *testing.T) {
	e := newFakeEnv(t)
	p := e.putPod(t, "p")
	ctrs := &fakeContainers{}
	for i := 0; i < 2; i++ {
		if err := e.m.Stop(context.Background(), p.ID, ctrs); err != nil {
			t.Fatalf("Stop %d: %v", i+1, err)
		}
	}
	if got := e.calls.got(); !slices.Equal(got[:2], []string{"cni del", "remove netns"}) || e.calls.count("cni del") != 1 {
		t.Fatalf("calls %v, want one CNI DEL, then the netns", got)
	}
	if _, err := os.Stat(p.NetNS); !os.IsNotExist(err) {
		t.Fatalf("netns after Stop: %v", err)
	}
	if got, _ := e.m.Get(p.ID); got.State != runtime.PodSandboxState_SANDBOX_NOTREADY || got.NetworkReady {
		t.Fatalf("record after Stop: %v, network ready %v", got.State, got.NetworkReady)
	}
}

// A failed CNI DEL fails the Stop and leaves the pod READY with its
// network, so kubelet's retry runs DEL again.
func TestStopRetriesFailedTeardown(t *testing.T) {
	e := newFakeEnv(t)
	p := e.putPod(t, "p")
	e.net.teardownErr, e.net.teardownFailures = errBoom, 1
	ctrs := &fakeContainers{}
	if err := e.m.Stop(context.Background(), p.ID, ctrs); err == nil {
		t.Fatal("Stop succeeded although CNI DEL failed")
	}
	if got, _ := e.m.Get(p.ID); got.State != runtime.PodSandboxState_SANDBOX_READY || !got.NetworkReady {
		t.Fatalf("record after a failed Stop: %v, network ready %v", got.State, got.NetworkReady)
	}
	if err := e.m.Stop(context.Background(), p.ID, ctrs); err != nil {
		t.Fatal(err)
	}
	if n := e.calls.count("cni del"); n != 2 {
		t.Fatalf("CNI DEL ran %d times, want 2", n)
	}
}

// The pod's STOPPED event goes out once, carrying its containers'
// statuses; Remove sends DELETED.
func TestStopAndRemoveEvents(t *testing.T) {
	e := newFakeEnv(t)
	p := e.putPod(t, "p")
	evs, cancel := e.events.Subscribe()
	defer cancel()
	ctrs := &fakeContainers{}
	if err := e.m.Stop(context.Background(), p.ID, ctrs); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(context.Background(), p.ID, ctrs); err != nil {
		t.Fatal(err)
	}
	var got []runtime.ContainerEventType
	for len(evs) > 0 {
		ev := <-evs
		if ev.ContainerId != p.ID || len(ev.ContainersStatuses) != 1 || ev.ContainersStatuses[0].Id != "ctr-of-"+p.ID {
			t.Fatalf("event %v: want the pod's ID and its containers' statuses", ev)
		}
		got = append(got, ev.ContainerEventType)
	}
	want := []runtime.ContainerEventType{runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, runtime.ContainerEventType_CONTAINER_DELETED_EVENT}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// Unknown IDs: lookups are NotFound, Stop and Remove succeed and touch
// nothing (kubelet retries them).
func TestUnknownPod(t *testing.T) {
	e := newFakeEnv(t)
	id := store.NewID()
	ctrs := &fakeContainers{}
	if _, _, err := e.m.Status(context.Background(), id, false, ctrs); !errdefs.IsNotFound(err) {
		t.Fatalf("Status: %v, want not found", err)
	}
	if _, _, err := e.m.Use(id); !errdefs.IsNotFound(err) {
		t.Fatalf("Use: %v, want not found", err)
	}
	if err := e.m.Stop(context.Background(), id, ctrs); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.m.Remove(context.Background(), id, ctrs); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if len(ctrs.got()) != 0 || len(e.calls.got()) != 0 {
		t.Fatalf("calls for an unknown pod: %v %v", ctrs.got(), e.calls.got())
	}
}
