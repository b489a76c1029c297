package sandbox

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// fakeContainers records the pod-level calls Stop and Remove make.
type fakeContainers struct {
	mu      sync.Mutex
	calls   []string
	stopErr error
}

func (f *fakeContainers) StopPodContainers(ctx context.Context, podID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+podID)
	return f.stopErr
}

func (f *fakeContainers) RemovePodContainers(ctx context.Context, podID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "remove "+podID)
	return nil
}

func (f *fakeContainers) ContainerStatuses(podID string) []*runtime.ContainerStatus {
	return []*runtime.ContainerStatus{}
}

func (f *fakeContainers) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

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
