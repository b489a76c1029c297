package spec

import (
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPodUserns: the refusals critest checks, and the mapping kept.
func TestPodUserns(t *testing.T) {
	one := []*runtime.IDMapping{{ContainerId: 0, HostId: 1000, Length: 100000}}
	for _, tc := range []struct {
		name    string
		opts    *runtime.UserNamespace
		want    *IDMap
		wantErr error
	}{
		{name: "none"},
		{name: "node", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_NODE}},
		{name: "pod", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: one, Gids: one},
			want: &IDMap{UIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}, GIDs: []specs.LinuxIDMapping{{HostID: 1000, Size: 100000}}}},
		{name: "two ranges", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
			Uids: append(one, &runtime.IDMapping{HostId: 2000, Length: 100000}), Gids: one}, wantErr: errdefs.ErrInvalidArgument},
		{name: "root not mapped", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
			Uids: []*runtime.IDMapping{{ContainerId: 1, HostId: 1000, Length: 100000}}, Gids: one}, wantErr: errdefs.ErrInvalidArgument},
		{name: "container mode", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_CONTAINER}, wantErr: errdefs.ErrInvalidArgument},
		{name: "target mode", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_TARGET}, wantErr: errdefs.ErrInvalidArgument},
		{name: "node with mappings", opts: &runtime.UserNamespace{Mode: runtime.NamespaceMode_NODE, Uids: one}, wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &runtime.PodSandboxConfig{Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtime.NamespaceOption{UsernsOptions: tc.opts}}}}
			got, err := PodUserns(cfg)
			checkErr(t, err, tc.wantErr)
			if (got == nil) != (tc.want == nil) || (got != nil && (got.UIDs[0] != tc.want.UIDs[0] || got.GIDs[0] != tc.want.GIDs[0])) {
				t.Errorf("mapping %+v, want %+v", got, tc.want)
			}
		})
	}
}
