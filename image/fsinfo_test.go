package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/krill-runtime/krill/test/testregistry"
)

// FsInfo answers from the last measure: a file added to the store shows up
// only once the background refresh has run, never by a walk in the call.
func TestFsInfoAnswersFromBackgroundMeasure(t *testing.T) {
	ctx := context.Background()
	slow := newService(t, func(c *Config) { c.UsageRefresh = time.Hour })
	_, before, _, err := slow.FsInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(slow.cfg.Root, "big"), make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, after, _, _ := slow.FsInfo(ctx); after != before {
		t.Errorf("FsInfo walked again within the refresh interval: %d -> %d", before, after)
	}
	if b, ok := slow.CachedUsage(); !ok || b != before {
		t.Errorf("CachedUsage = %d, %v; want %d", b, ok, before)
	}

	fast := newService(t, func(c *Config) { c.UsageRefresh = 20 * time.Millisecond })
	_, before, _, err = fast.FsInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fast.cfg.Root, "big"), make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	grown := testregistry.WaitFor(10*time.Second, func() bool {
		_, after, _, _ := fast.FsInfo(ctx)
		return after >= before+4<<20
	})
	if !grown {
		t.Error("background refresh never saw the 4 MiB file")
	}
}

// RemoveRootfs leaves the disk work to the background collector: with the
// collector stopped, the removed rootfs's directories stay; once it runs
// again they go.
func TestRemoveRootfsDoesNotCollectInline(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	reg.Push(t, "gc", "1", smallImage("gc"))
	s := newService(t, nil)
	ctx := context.Background()
	img, err := s.Pull(ctx, reg.Ref("gc:1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PrepareRootfs(ctx, "c1", img.ID, false); err != nil {
		t.Fatal(err)
	}
	snapshots := filepath.Join(s.cfg.Root, "snapshots", "snapshots")
	before := countEntries(t, snapshots)

	close(s.collect.stop) // as Close does: no collection until restarted
	s.collect.stopped.Wait()
	if err := s.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if n := countEntries(t, snapshots); n != before {
		t.Fatalf("RemoveRootfs collected inline: %d snapshot dirs, had %d", n, before)
	}

	s.collect.stop = make(chan struct{})
	s.collect.stopped.Add(1)
	go s.gcLoop() // the request made while stopped is still pending
	if !testregistry.WaitFor(10*time.Second, func() bool { return countEntries(t, snapshots) == before-1 }) {
		t.Errorf("background collection left %d snapshot dirs; want %d", countEntries(t, snapshots), before-1)
	}
}

// The background garbage collection (one per container or pod removal)
// asks for no walk of the store; a pull or an image removal does, at once.
func TestUsageNotRemeasuredAfterCollection(t *testing.T) {
	ctx := context.Background()
	s := newService(t, func(c *Config) { c.UsageRefresh = time.Hour })
	_, before, _, err := s.FsInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.cfg.Root, "big"), make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	s.collectNow()
	time.Sleep(300 * time.Millisecond)
	if _, now, _, _ := s.FsInfo(ctx); now != before {
		t.Fatalf("a collection made the store be walked again: %d -> %d", before, now)
	}
	s.usage.changed()
	if !testregistry.WaitFor(10*time.Second, func() bool { _, now, _, _ := s.FsInfo(ctx); return now >= before+4<<20 }) {
		t.Error("a pull's change was not measured")
	}
}
