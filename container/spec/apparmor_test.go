package spec

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeAppArmor is a host whose AppArmor is on or off, with a set of loaded
// profiles; EnsureDefault "loads" krill-default.
type fakeAppArmor struct {
	enabled  bool
	loaded   map[string]bool
	loadErr  error
	defaults int // EnsureDefault calls
}

func (f *fakeAppArmor) Enabled() bool { return f.enabled }
func (f *fakeAppArmor) Loaded(p string) (bool, error) {
	return f.loaded[p], nil
}
func (f *fakeAppArmor) EnsureDefault() (string, error) {
	f.defaults++
	if f.loadErr != nil {
		return "", f.loadErr
	}
	f.loaded["krill-default"] = true
	return "krill-default", nil
}

func TestAppArmor(t *testing.T) {
	localhost := func(ref string) *runtime.SecurityProfile {
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: ref}
	}
	unconfined := &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}
	runtimeDefault := &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	for _, tc := range []struct {
		name       string
		enabled    bool
		sp         *runtime.SecurityProfile
		legacy     string
		privileged bool
		loadErr    error
		want       string
		wantErr    error
		wantLoads  int
	}{
		// A host without AppArmor: only "no profile" can be honoured.
		{name: "off: unset", want: ""},
		{name: "off: unconfined", sp: unconfined},
		{name: "off: legacy unconfined", legacy: "unconfined"},
		{name: "off: runtime default refused", sp: runtimeDefault, wantErr: errdefs.ErrFailedPrecondition},
		{name: "off: legacy runtime/default refused", legacy: "runtime/default", wantErr: errdefs.ErrFailedPrecondition},
		{name: "off: localhost refused", sp: localhost("my-profile"), wantErr: errdefs.ErrFailedPrecondition},
		{name: "off: legacy localhost refused", legacy: "localhost/my-profile", wantErr: errdefs.ErrFailedPrecondition},
		{name: "off: legacy garbage", legacy: "nonsense", wantErr: errdefs.ErrInvalidArgument},
		// A host with AppArmor.
		{name: "on: unset is the default", enabled: true, want: "krill-default", wantLoads: 1},
		{name: "on: runtime default", enabled: true, sp: runtimeDefault, want: "krill-default", wantLoads: 1},
		{name: "on: legacy runtime/default", enabled: true, legacy: "runtime/default", want: "krill-default", wantLoads: 1},
		{name: "on: legacy docker/default", enabled: true, legacy: "docker/default", want: "krill-default", wantLoads: 1},
		{name: "on: privileged runtime default is unconfined", enabled: true, sp: runtimeDefault, privileged: true},
		{name: "on: unconfined", enabled: true, sp: unconfined},
		{name: "on: localhost loaded", enabled: true, sp: localhost("my-profile"), want: "my-profile"},
		{name: "on: localhost with prefix", enabled: true, sp: localhost("localhost/my-profile"), want: "my-profile"},
		{name: "on: legacy localhost loaded", enabled: true, legacy: "localhost/my-profile", want: "my-profile"},
		{name: "on: privileged localhost applies", enabled: true, sp: localhost("my-profile"), privileged: true, want: "my-profile"},
		{name: "on: localhost not loaded", enabled: true, sp: localhost("missing"), wantErr: errdefs.ErrFailedPrecondition},
		{name: "on: localhost empty", enabled: true, sp: localhost(""), wantErr: errdefs.ErrInvalidArgument},
		{name: "on: ref without localhost", enabled: true, sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault, LocalhostRef: "x"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "on: unknown type", enabled: true, sp: &runtime.SecurityProfile{ProfileType: 7}, wantErr: errdefs.ErrInvalidArgument},
		{name: "on: default fails to load", enabled: true, sp: runtimeDefault, loadErr: errors.New("parser error"), wantErr: errors.New("parser error"), wantLoads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &fakeAppArmor{enabled: tc.enabled, loaded: map[string]bool{"my-profile": true}, loadErr: tc.loadErr}
			in := podInput(t)
			in.AppArmor = host
			if tc.privileged {
				in.Sandbox.Linux = &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{Privileged: true}}
			}
			sc := securityContext(&in)
			sc.Privileged = tc.privileged
			//lint:ignore SA1019 deprecated field under test
			sc.Apparmor, sc.ApparmorProfile = tc.sp, tc.legacy
			s, err := Generate(in)
			switch {
			case tc.wantErr != nil && tc.loadErr != nil:
				if err == nil {
					t.Fatal("load failure not reported")
				}
			default:
				checkErr(t, err, tc.wantErr)
			}
			if err == nil && s.Process.ApparmorProfile != tc.want {
				t.Fatalf("profile %q, want %q", s.Process.ApparmorProfile, tc.want)
			}
			if host.defaults != tc.wantLoads {
				t.Fatalf("EnsureDefault called %d times, want %d", host.defaults, tc.wantLoads)
			}
		})
	}
}

// A nil AppArmor (callers that never set it) is a host without AppArmor.
func TestAppArmorNilHost(t *testing.T) {
	in := podInput(t)
	securityContext(&in).Apparmor = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	_, err := Generate(in)
	checkErr(t, err, errdefs.ErrFailedPrecondition)
}
