package container

import (
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigquit": syscall.SIGQUIT,
		"9": syscall.SIGKILL, "SIGRTMIN+3": 0, "SIGNOPE": 0,
	} {
		got, err := parseSignal(in)
		if want == 0 {
			if err == nil && in == "SIGNOPE" {
				t.Errorf("%s: no error", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestContainerUser(t *testing.T) {
	u := containerUser(specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 50000}})
	l := u.GetLinux()
	if l.Uid != 1000 || l.Gid != 1000 || len(l.SupplementalGroups) != 2 || l.SupplementalGroups[1] != 50000 {
		t.Fatalf("got %+v", l)
	}
}
