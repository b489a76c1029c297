package container

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestContainerUser(t *testing.T) {
	u := containerUser(specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 50000}})
	l := u.GetLinux()
	if l.Uid != 1000 || l.Gid != 1000 || len(l.SupplementalGroups) != 2 || l.SupplementalGroups[1] != 50000 {
		t.Fatalf("got %+v", l)
	}
}
