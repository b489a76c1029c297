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
