package events

import (
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPublishInOrderToEverySubscriber(t *testing.T) {
	b := New()
	a, stopA := b.Subscribe()
	c, stopC := b.Subscribe()
	defer stopC()
	types := []runtime.ContainerEventType{
		runtime.ContainerEventType_CONTAINER_CREATED_EVENT,
		runtime.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtime.ContainerEventType_CONTAINER_STOPPED_EVENT,
		runtime.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	for _, ty := range types {
		b.Publish(&runtime.ContainerEventResponse{ContainerId: "p", ContainerEventType: ty})
	}
	for _, ch := range []<-chan *runtime.ContainerEventResponse{a, c} {
		for _, ty := range types {
			if ev := <-ch; ev.ContainerEventType != ty {
				t.Fatalf("got %v, want %v", ev.ContainerEventType, ty)
			}
		}
	}
	stopA()
	b.Publish(&runtime.ContainerEventResponse{ContainerId: "late"})
	if len(a) != 0 {
		t.Fatal("an ended subscription still receives events")
	}
	if ev := <-c; ev.ContainerId != "late" {
		t.Fatalf("got %q", ev.ContainerId)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	b := New()
	_, stop := b.Subscribe()
	defer stop()
	for i := 0; i < 2*subscriberBuffer; i++ {
		b.Publish(&runtime.ContainerEventResponse{ContainerId: "x"})
	}
}
