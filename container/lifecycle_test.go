package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Bad requests, unknown pods and missing images are refused before
// anything is made.
func TestCreateRefusesBeforeMakingAnything(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		pod   string
		cfg   *runtime.ContainerConfig
		check func(error) bool
	}{
		{"no metadata", e.pod.ID, &runtime.ContainerConfig{Image: &runtime.ImageSpec{Image: "busybox"}}, errdefs.IsInvalidArgument},
		{"no image", e.pod.ID, ctrConfig("c", ""), errdefs.IsInvalidArgument},
		{"unknown pod", store.NewID(), ctrConfig("c", "busybox"), errdefs.IsNotFound},
		{"missing image", e.pod.ID, ctrConfig("c", "missing"), errdefs.IsNotFound},
	} {
		if _, err := e.m.Create(ctx, tc.pod, tc.cfg); !tc.check(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if got := e.calls.got(); len(got) != 0 {
		t.Fatalf("refused creates made %v", got)
	}
	entries, _ := os.ReadDir(e.m.cfg.StateDir)
	if len(entries) != 0 {
		t.Fatalf("bundles of refused creates: %v", entries)
	}
}

// A create that fails after its rootfs step (here: pause is not running,
// so its namespaces cannot be joined) unmounts and removes the snapshot
// and the bundle and releases the name; nothing is recorded.
func TestCreateUndoesRootfsOnFailure(t *testing.T) {
	e := newFakeEnv(t)
	for i := 0; i < 2; i++ { // the second try must fail the same way, not on the name
		_, err := e.m.Create(context.Background(), e.pod.ID, ctrConfig("c", "busybox"))
		if !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("try %d: %v, want failed precondition (pause gone)", i+1, err)
		}
	}
	// Undo runs newest first: unmount, then the snapshot.
	want := []string{"prepare rootfs", "unmount rootfs", "remove rootfs", "prepare rootfs", "unmount rootfs", "remove rootfs"}
	if got := e.calls.got(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if entries, _ := os.ReadDir(e.m.cfg.StateDir); len(entries) != 0 {
		t.Fatalf("bundles left: %v", entries)
	}
	if n := len(e.m.cfg.Containers.List()); n != 0 {
		t.Fatalf("%d records after failed creates", n)
	}
}

// A stopped pod takes no new container.
func TestCreateInStoppedPod(t *testing.T) {
	e := newFakeEnv(t)
	if _, err := e.pods.Update(e.pod.ID, func(p *store.Pod) error {
		p.State = runtime.PodSandboxState_SANDBOX_NOTREADY
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Create(context.Background(), e.pod.ID, ctrConfig("c", "busybox")); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Create in a stopped pod: %v, want failed precondition", err)
	}
	if got := e.calls.got(); len(got) != 0 {
		t.Fatalf("calls %v", got)
	}
}

// Start runs `runc create`, checks that pause still holds its namespaces,
// and only then `runc start`. A failure at either step deletes what runc
// made and records the container EXITED with StartError.
func TestStartFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		createErr error
		want      []string
	}{
		// oci could not tell the failure's class: FailedPrecondition.
		{"runc create fails", fmt.Errorf("exec: no such file: %w", errdefs.ErrUnknown), []string{"runc create", "runc delete"}},
		{"pause gone after runc create", nil, []string{"runc create", "runc delete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t)
			c := e.putContainer(t, "c", runtime.ContainerState_CONTAINER_CREATED)
			e.rt.createErr = tc.createErr
			err := e.m.Start(context.Background(), c.ID)
			if !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("Start: %v, want failed precondition", err)
			}
			if got := e.calls.got(); !slices.Equal(got, tc.want) {
				t.Fatalf("calls %v, want %v (never runc start)", got, tc.want)
			}
			r, _ := e.m.cfg.Containers.Get(c.ID)
			if r.State != runtime.ContainerState_CONTAINER_EXITED || r.Reason != "StartError" || r.ExitCode != startErrorCode {
				t.Fatalf("record after a failed start: %v %q %d", r.State, r.Reason, r.ExitCode)
			}
			if err := e.m.Start(context.Background(), c.ID); !errdefs.IsFailedPrecondition(err) {
				t.Fatalf("second Start: %v, want failed precondition", err)
			}
		})
	}
}

// Stop sends the stop signal (through the shim) and stops there when the
// process exits;
// a process that ignores it is killed after the timeout. Stopping a
// created, exited or unknown container succeeds without touching runc.
func TestStop(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	polite := e.putContainer(t, "polite", runtime.ContainerState_CONTAINER_RUNNING)
	e.rt.exitOn = []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}
	if err := e.m.Stop(ctx, polite.ID, 10); err != nil {
		t.Fatal(err)
	}
	if got := e.calls.got(); !slices.Equal(got, []string{"signal terminated"}) {
		t.Fatalf("calls %v, want SIGTERM (through the shim) only", got)
	}

	e.calls.reset()
	stubborn := e.putContainer(t, "stubborn", runtime.ContainerState_CONTAINER_RUNNING)
	e.rt.exitOn = []syscall.Signal{syscall.SIGKILL}
	if err := e.m.Stop(ctx, stubborn.ID, 1); err != nil {
		t.Fatal(err)
	}
	// The fake's bundle has no config.json: not known to own its pid
	// namespace, so the SIGKILL goes to all its processes (runc kill --all).
	if got := e.calls.got(); !slices.Equal(got, []string{"signal terminated", "kill killed"}) {
		t.Fatalf("calls %v, want SIGTERM then SIGKILL to all", got)
	}

	e.calls.reset()
	created := e.putContainer(t, "created", runtime.ContainerState_CONTAINER_CREATED)
	for _, id := range []string{created.ID, polite.ID, store.NewID()} {
		if err := e.m.Stop(ctx, id, 10); err != nil {
			t.Fatalf("Stop %s: %v", id, err)
		}
	}
	if got := e.calls.got(); len(got) != 0 {
		t.Fatalf("calls %v for containers with no process", got)
	}
	if r, _ := e.m.cfg.Containers.Get(created.ID); r.State != runtime.ContainerState_CONTAINER_CREATED {
		t.Fatalf("a stopped created container is %v, want still created", r.State)
	}
}

// Remove kills a running container first, then deletes the runc
// container before its rootfs, then the bundle and the record. A failed
// runc delete keeps the record for kubelet's retry; a second Remove and
// one of an unknown ID succeed.
func TestRemove(t *testing.T) {
	e := newFakeEnv(t)
	ctx := context.Background()
	c := e.putContainer(t, "c", runtime.ContainerState_CONTAINER_RUNNING)
	e.rt.exitOn = []syscall.Signal{syscall.SIGKILL}
	e.rt.deleteErr = errors.New("runc hung")
	if err := e.m.Remove(ctx, c.ID); err == nil {
		t.Fatal("Remove succeeded although runc delete failed")
	}
	if _, err := e.m.cfg.Containers.Get(c.ID); err != nil {
		t.Fatalf("record after a failed Remove: %v", err)
	}
	e.rt.deleteErr = nil
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{"kill killed", "runc delete", "runc delete", "unmount rootfs", "remove rootfs"}
	if got := e.calls.got(); !slices.Equal(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	if _, err := os.Stat(c.Bundle); !os.IsNotExist(err) {
		t.Fatalf("bundle after Remove: %v", err)
	}
	if _, err := e.m.cfg.Containers.Get(c.ID); !errdefs.IsNotFound(err) {
		t.Fatalf("record after Remove: %v", err)
	}
	for _, id := range []string{c.ID, store.NewID()} {
		if err := e.m.Remove(ctx, id); err != nil {
			t.Fatalf("Remove of a gone container: %v", err)
		}
	}
	if n := len(e.calls.got()); n != len(want) {
		t.Fatalf("calls for gone containers: %v", e.calls.got()[len(want):])
	}
	// The name is free again.
	if err := e.m.names.Reserve(nameKey(c.PodID, c.Config.GetMetadata()), store.NewID()); err != nil {
		t.Fatalf("name after Remove: %v", err)
	}
}

// Lookups of unknown IDs are NotFound.
func TestUnknownContainer(t *testing.T) {
	e := newFakeEnv(t)
	id := store.NewID()
	if _, _, err := e.m.Status(context.Background(), id, false); !errdefs.IsNotFound(err) {
		t.Errorf("Status: %v", err)
	}
	if err := e.m.Start(context.Background(), id); !errdefs.IsNotFound(err) {
		t.Errorf("Start: %v", err)
	}
	if _, err := e.m.Stats(context.Background(), id); !errdefs.IsNotFound(err) {
		t.Errorf("Stats: %v", err)
	}
	if len(e.calls.got()) != 0 {
		t.Fatalf("calls %v", e.calls.got())
	}
}
