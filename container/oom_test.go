package container

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/krill-runtime/krill/cgroups"
)

// TestOOMWatchOutlivesCgroup: a kill seen while the container ran is still
// reported after its cgroup is gone, as under the systemd driver, where
// systemd removes an exited scope before krilld looks.
func TestOOMWatchOutlivesCgroup(t *testing.T) {
	root := t.TempDir()
	scope := filepath.Join(root, "kubepods.slice", "kubepods-pod1.slice", "krill-c1.scope")
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu memory pids\n"), 0o644)
	events := filepath.Join(scope, "memory.events")
	os.WriteFile(events, []byte("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"), 0o644)
	cg, err := cgroups.New(root)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{cfg: Config{Cgroups: cg, Log: slog.Default()}}

	quiet := m.watchOOM("c0", "kubepods-pod1.slice:krill:c1")
	if quiet.end() {
		t.Fatal("OOM reported without a kill")
	}

	w := m.watchOOM("c1", "kubepods-pod1.slice:krill:c1")
	os.WriteFile(events, []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	// The watcher reads memory.events asynchronously: give it the time the
	// kernel would, then remove the cgroup like systemd does.
	deadline := time.Now().Add(5 * time.Second)
	for !w.seen.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	os.RemoveAll(scope)
	if !w.end() {
		t.Fatal("OOM kill not reported")
	}
	if oom, _ := cg.OOMKilled("kubepods-pod1.slice:krill:c1"); oom {
		t.Fatal("the removed cgroup still reads as OOM-killed: the test proves nothing")
	}

	// A cgroup that is already gone gives a watch that reports nothing.
	if m.watchOOM("c2", "kubepods-pod1.slice:krill:c2").end() {
		t.Fatal("OOM reported for a missing cgroup")
	}
}
