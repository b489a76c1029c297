package e2e

import (
	"context"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodAndContainerEvents: a GetContainerEvents subscriber that connected
// before RunPodSandbox sees the whole life of the pod and its container, in
// order, each event with the pod's status and its containers' statuses
// (what kubelet's evented PLEG rebuilds the pod from). The pod's own events
// carry the pod ID as container ID, as containerd sends them.
func TestPodAndContainerEvents(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := e.rt.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// The header arrives once the server has subscribed this stream.
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	evs := make(chan *runtime.ContainerEventResponse, 64)
	var slowest time.Duration // from an event's creation to its arrival here
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				close(evs)
				return
			}
			if d := time.Since(time.Unix(0, ev.CreatedAt)); d > slowest {
				slowest = d
			}
			evs <- ev
		}
	}()
	expect := func(id string, ty runtime.ContainerEventType, check func(*runtime.ContainerEventResponse)) {
		t.Helper()
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("event stream ended, want %v of %s", ty, id)
			}
			if ev.ContainerId != id || ev.ContainerEventType != ty {
				t.Fatalf("got %v of %s, want %v of %s", ev.ContainerEventType, ev.ContainerId, ty, id)
			}
			if ev.PodSandboxStatus.GetMetadata().GetName() != "events" {
				t.Fatalf("%v of %s: pod status %v", ty, id, ev.PodSandboxStatus)
			}
			check(ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event of %s", ty, id)
		}
	}
	podState := func(want runtime.PodSandboxState, containers int) func(*runtime.ContainerEventResponse) {
		return func(ev *runtime.ContainerEventResponse) {
			t.Helper()
			if ev.PodSandboxStatus.State != want || len(ev.ContainersStatuses) != containers {
				t.Fatalf("%v of %s: pod %v with %d container statuses, want %v with %d",
					ev.ContainerEventType, ev.ContainerId, ev.PodSandboxStatus.State, len(ev.ContainersStatuses), want, containers)
			}
		}
	}
	var id string // the app container
	ctrState := func(want runtime.ContainerState) func(*runtime.ContainerEventResponse) {
		return func(ev *runtime.ContainerEventResponse) {
			t.Helper()
			if len(ev.ContainersStatuses) != 1 || ev.ContainersStatuses[0].Id != id || ev.ContainersStatuses[0].State != want {
				t.Fatalf("%v of %s: container statuses %v, want %s %v", ev.ContainerEventType, ev.ContainerId, ev.ContainersStatuses, id, want)
			}
		}
	}

	podID, podCfg := e.pod("events")
	expect(podID, runtime.ContainerEventType_CONTAINER_CREATED_EVENT, podState(runtime.PodSandboxState_SANDBOX_READY, 0))
	expect(podID, runtime.ContainerEventType_CONTAINER_STARTED_EVENT, podState(runtime.PodSandboxState_SANDBOX_READY, 0))
	id = e.container(podID, podCfg, "app", []string{"sleep", "3600"})
	expect(id, runtime.ContainerEventType_CONTAINER_CREATED_EVENT, ctrState(runtime.ContainerState_CONTAINER_CREATED))
	expect(id, runtime.ContainerEventType_CONTAINER_STARTED_EVENT, ctrState(runtime.ContainerState_CONTAINER_RUNNING))

	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	expect(id, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, ctrState(runtime.ContainerState_CONTAINER_EXITED))
	expect(podID, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, func(ev *runtime.ContainerEventResponse) {
		podState(runtime.PodSandboxState_SANDBOX_NOTREADY, 1)(ev)
		ctrState(runtime.ContainerState_CONTAINER_EXITED)(ev)
	})
	// A second stop is not a second STOPPED event.
	if _, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	expect(id, runtime.ContainerEventType_CONTAINER_DELETED_EVENT, podState(runtime.PodSandboxState_SANDBOX_NOTREADY, 0))
	expect(podID, runtime.ContainerEventType_CONTAINER_DELETED_EVENT, podState(runtime.PodSandboxState_SANDBOX_NOTREADY, 0))
	cancel()
	for range evs { // the reader has ended: slowest is final
	}
	t.Logf("slowest event delivery: %v", slowest)
}
