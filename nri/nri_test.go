package nri

import (
	"context"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/krill-runtime/krill/store"
)

// TestDisabledDoesNothing: with [nri] enable = false (or no Service at
// all) every lifecycle call succeeds without touching anything.
func TestDisabledDoesNothing(t *testing.T) {
	off, err := New(Config{Enable: false}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{off, nil} {
		if s.Enabled() {
			t.Fatal("disabled service says enabled")
		}
		ctx, c, spec := context.Background(), store.Container{ID: "c"}, &specs.Spec{}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		if changed, err := s.CreateContainer(ctx, store.Pod{ID: "p"}, c, spec); changed || err != nil || spec.Annotations != nil {
			t.Errorf("CreateContainer = %v, %v; spec %+v", changed, err, spec)
		}
		if err := s.RunPodSandbox(ctx, store.Pod{ID: "p"}); err != nil {
			t.Error(err)
		}
		if err := s.StartContainer(ctx, c); err != nil {
			t.Error(err)
		}
		s.StopContainer(ctx, c)
		s.BlockSync()()
		s.Close()
	}
}
