package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// loggingRunc points r at a wrapper of runc that logs each command line,
// and returns a function reading the log.
func loggingRunc(t *testing.T) (*Runtime, func() string) {
	t.Helper()
	_, cfg := newTestRuntime(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, "runc")
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\nexec /usr/sbin/runc \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.RuncPath = wrapper
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, func() string { b, _ := os.ReadFile(log); return string(b) }
}

// ran tells whether the logged runc calls include the subcommand.
func ran(calls, sub string) bool {
	for _, line := range strings.Split(calls, "\n") {
		for _, f := range strings.Fields(line) {
			if f == sub {
				return true
			}
		}
	}
	return false
}

// Signal goes through the shim, not `runc kill`.
func TestSignalThroughShim(t *testing.T) {
	r, calls := loggingRunc(t)
	id := sleeper(t, r)
	if err := r.Signal(context.Background(), id, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, r, id); e.Code != 137 || e.Signal != int(syscall.SIGKILL) {
		t.Fatalf("exit %+v", e)
	}
	if ran(calls(), "kill") {
		t.Errorf("runc kill ran:\n%s", calls())
	}
}

// Release forgets an exited container in runc, keeps the exit for Wait,
// and spares Delete a second runc start-up; it leaves a running one alone.
func TestReleaseThenDelete(t *testing.T) {
	r, calls := loggingRunc(t)
	ctx := context.Background()
	id := sleeper(t, r)
	if err := r.Release(ctx, id); err == nil {
		t.Fatal("Release of a running container succeeded")
	}
	if st, err := r.Status(ctx, id); err != nil || st != "running" {
		t.Fatalf("after a refused Release: %q, %v", st, err)
	}
	if err := r.Kill(ctx, id, syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	waitExit(t, r, id)
	if err := r.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(ctx, id); err == nil {
		t.Fatal("runc still knows the released container")
	}
	if e := r.Exited(id); e == nil || e.Code != 137 {
		t.Fatalf("exit after Release: %+v", e)
	}
	before := strings.Count(calls(), "delete")
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(calls(), "delete"); n != before {
		t.Errorf("Delete ran runc delete again:\n%s", calls())
	}
	if _, err := os.Stat(r.shimDir(id)); !os.IsNotExist(err) {
		t.Errorf("shim dir left: %v", err)
	}
}

// A signal that ends the init races the shim's own exit (exit file, ack
// from a waiter, exit) with its answer: either way Signal succeeds.
func TestSignalRacesShimExit(t *testing.T) {
	r, _ := newTestRuntime(t)
	for i := 0; i < 5; i++ {
		id := sleeper(t, r)
		waited := make(chan error, 1)
		go func() { _, err := r.Wait(context.Background(), id); waited <- err }()
		if err := r.Signal(context.Background(), id, syscall.SIGKILL); err != nil {
			t.Fatalf("signal #%d: %v", i, err)
		}
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if err := r.Signal(context.Background(), id, syscall.SIGTERM); err != nil {
			t.Errorf("signal after the exit: %v", err)
		}
	}
}
