package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStoreRoundTripAndPrefix(t *testing.T) {
	dir := t.TempDir()
	s, err := New[Pod](dir, "pod.json", "pod sandbox")
	if err != nil {
		t.Fatal(err)
	}
	p := Pod{ID: "abcdef01", Config: &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "n"}}, PausePid: 42}
	if err := s.Put(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Pod{ID: "abcdef02", Config: &runtime.PodSandboxConfig{}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("abcdef01"); err != nil || got.PausePid != 42 {
		t.Fatalf("get full id: %+v %v", got, err)
	}
	if _, err := s.Get("abcdef"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if got, err := s.Get("abcdef02"[:8]); err != nil || got.ID != "abcdef02" {
		t.Fatalf("prefix: %v", err)
	}
	if _, err := s.Get("zz"); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s.Get(""); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("empty: %v", err)
	}
	// Update works on a copy: an earlier copy is unchanged.
	before, _ := s.Get("abcdef01")
	if _, err := s.Update("abcdef01", func(p *Pod) error { p.PausePid = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	if before.PausePid != 42 {
		t.Fatal("update changed a reader's copy")
	}

	// A second store over the same directory sees what the first wrote.
	s2, _ := New[Pod](dir, "pod.json", "pod sandbox")
	quarantined, err := s2.Load()
	if err != nil || len(quarantined) != 0 {
		t.Fatalf("load: %v %v", quarantined, err)
	}
	if got, _ := s2.Get("abcdef01"); got.PausePid != 7 || got.Config.GetMetadata().GetName() != "n" {
		t.Fatalf("reloaded %+v", got)
	}
	if err := s2.Delete("abcdef01"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("abcdef01"); err != nil {
		t.Fatal("delete must be idempotent")
	}
	if _, err := os.Stat(filepath.Join(dir, "abcdef01")); !os.IsNotExist(err) {
		t.Fatal("record dir left on disk")
	}
}

// TestLoadQuarantinesGarbageAndRefusesFutureVersions: an unreadable record
// is moved aside (never dropped, so recovery cannot take its live objects
// for leftovers), a record without its file is removed, and a newer
// version stops the load with the file's name.
func TestLoadQuarantinesGarbageAndRefusesFutureVersions(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pods")
	write := func(id, body string) {
		os.MkdirAll(filepath.Join(dir, id), 0o700)
		if body != "" {
			os.WriteFile(filepath.Join(dir, id, "pod.json"), []byte(body), 0o600)
		}
	}
	write("garbage", `{not json`)
	write("norecord", "")
	write("good", `{"version":1,"record":{"id":"good"}}`)
	s, _ := New[Pod](dir, "pod.json", "pod sandbox")
	q, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0] != "garbage" || !s.Quarantined("garbage") || len(s.List()) != 1 {
		t.Fatalf("quarantined=%v list=%v", q, s.List())
	}
	if _, err := os.Stat(filepath.Join(root, "quarantine", "pods", "garbage", "pod.json")); err != nil {
		t.Fatalf("quarantined record not kept: %v", err)
	}
	for _, id := range []string{"garbage", "norecord"} {
		if _, err := os.Stat(filepath.Join(dir, id)); !os.IsNotExist(err) {
			t.Errorf("%s still in the store directory (%v)", id, err)
		}
	}

	write("future", `{"version":99,"record":{"id":"future"}}`)
	s, _ = New[Pod](dir, "pod.json", "pod sandbox")
	_, err = s.Load()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "future", "pod.json")) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("future version: %v, want an error naming the file and version", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "future", "pod.json")); err != nil {
		t.Fatalf("future record touched: %v", err)
	}
}

// TestSettleKeepsTheChangeWhenTheDiskFails: a write that fails (here the
// record's directory became a file) keeps the change in memory, and it
// reaches the disk once writing works again.
func TestSettleKeepsTheChangeWhenTheDiskFails(t *testing.T) {
	dir := t.TempDir()
	s, _ := New[Pod](dir, "pod.json", "pod sandbox")
	if err := s.Put(Pod{ID: "p", Config: &runtime.PodSandboxConfig{}}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "p"))
	os.WriteFile(filepath.Join(dir, "p"), nil, 0o600)
	if _, err := s.Settle("p", func(p *Pod) error { p.PausePid = 9; return nil }); err == nil {
		t.Fatal("settle on a broken disk reported no error")
	}
	if got, _ := s.Get("p"); got.PausePid != 9 || unsaved(s) != 1 {
		t.Fatalf("in memory: %+v, unsaved %d", got, unsaved(s))
	}
	os.Remove(filepath.Join(dir, "p"))
	deadline := time.Now().Add(20 * time.Second)
	for unsaved(s) != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	s2, _ := New[Pod](dir, "pod.json", "pod sandbox")
	if _, err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get("p"); err != nil || got.PausePid != 9 {
		t.Fatalf("on disk after the retry: %+v %v", got, err)
	}
}

func TestMatchLabels(t *testing.T) {
	l := map[string]string{"a": "1", "b": "2"}
	for _, tc := range []struct {
		sel  map[string]string
		want bool
	}{
		{nil, true}, {map[string]string{"a": "1"}, true}, {map[string]string{"a": "2"}, false},
		{map[string]string{"c": ""}, false}, {map[string]string{"a": "1", "b": "2"}, true},
	} {
		if got := MatchLabels(l, tc.sel); got != tc.want {
			t.Errorf("MatchLabels(%v) = %v", tc.sel, got)
		}
	}
}

// unsaved counts records whose last change is not on disk yet.
func unsaved[T Record](s *Store[T]) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.unsaved)
}
