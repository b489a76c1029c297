package store

import (
	"os"
	"path/filepath"
	"testing"

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
	broken, err := s2.Load()
	if err != nil || len(broken) != 0 {
		t.Fatalf("load: %v %v", broken, err)
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

func TestLoadRefusesUnknownVersionAndGarbage(t *testing.T) {
	dir := t.TempDir()
	for id, body := range map[string]string{
		"future":  `{"version":99,"record":{"id":"future"}}`,
		"garbage": `{not json`,
	} {
		os.MkdirAll(filepath.Join(dir, id), 0o700)
		os.WriteFile(filepath.Join(dir, id, "pod.json"), []byte(body), 0o600)
	}
	s, _ := New[Pod](dir, "pod.json", "pod sandbox")
	broken, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(broken) != 2 || len(s.List()) != 0 {
		t.Fatalf("broken=%v list=%v", broken, s.List())
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
