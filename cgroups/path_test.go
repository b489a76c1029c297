package cgroups

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestContainerPath(t *testing.T) {
	tests := []struct{ driver, parent, id, want string }{
		{DriverCgroupfs, "/kubepods/burstable/pod1234", "abc", "/kubepods/burstable/pod1234/abc"},
		{DriverCgroupfs, "/kubepods/besteffort/pod1234/", "abc", "/kubepods/besteffort/pod1234/abc"},
		{DriverCgroupfs, "kubepods/pod1", "abc", "/kubepods/pod1/abc"},
		{DriverCgroupfs, "", "abc", "/krill/abc"},
		{DriverSystemd, "kubepods-burstable-pod1234.slice", "abc", "kubepods-burstable-pod1234.slice:krill:abc"},
		{DriverSystemd, "kubepods.slice", "abc", "kubepods.slice:krill:abc"},
		// A full path is cut to its last slice, as containerd does.
		{DriverSystemd, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice", "abc", "kubepods-besteffort-pod1.slice:krill:abc"},
		{DriverSystemd, "", "abc", "krill.slice:krill:abc"},
	}
	for _, tt := range tests {
		if got := ContainerPath(tt.driver, tt.parent, tt.id); got != tt.want {
			t.Errorf("ContainerPath(%s, %q, %q) = %q, want %q", tt.driver, tt.parent, tt.id, got, tt.want)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	tests := []struct{ slice, want string }{
		{"-.slice", "/"},
		{"system.slice", "/system.slice"},
		{"kubepods.slice", "/kubepods.slice"},
		{"kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"},
		{"kubepods-burstable-pod1_2.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice"},
		{"a-b-c-d.slice", "/a.slice/a-b.slice/a-b-c.slice/a-b-c-d.slice"},
	}
	for _, tt := range tests {
		got, err := ExpandSlice(tt.slice)
		if err != nil || got != tt.want {
			t.Errorf("ExpandSlice(%q) = %q, %v; want %q", tt.slice, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", ".slice", "kubepods", "a--b.slice", "-a.slice", "a-.slice", "a/b.slice", "kubepods.scope"} {
		if got, err := ExpandSlice(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ExpandSlice(%q) = %q, %v; want invalid argument", bad, got, err)
		}
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/kubepods/burstable/pod1/abc", "/kubepods/burstable/pod1/abc"},
		{"krill/abc", "/krill/abc"},
		{"/a/../../b", "/b"},
		{"kubepods-burstable-pod1.slice:krill:abc", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/krill-abc.scope"},
		{"krill.slice:krill:abc", "/krill.slice/krill-abc.scope"},
		{":krill:abc", "/system.slice/krill-abc.scope"},
		{"system.slice::abc", "/system.slice/abc.scope"},
		{"kubepods-burstable-pod1.slice", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice"},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "/", "/..", "a--b.slice:krill:abc", "-.slice"} {
		if got, err := cleanPath(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("cleanPath(%q) = %q, %v; want invalid argument", bad, got, err)
		}
	}
}

func TestChooseDriver(t *testing.T) {
	tests := []struct {
		name, mode string
		systemd    bool
		want       string
		wantErr    error
	}{
		{"", ModeV2, true, DriverCgroupfs, nil},
		{"cgroupfs", ModeV2, true, DriverCgroupfs, nil},
		{"auto", ModeV2, true, DriverSystemd, nil},
		{"auto", ModeV2, false, DriverCgroupfs, nil},
		{"auto", ModeHybrid, true, DriverCgroupfs, nil},
		{"auto", ModeV1, false, DriverCgroupfs, nil},
		{"systemd", ModeV2, true, DriverSystemd, nil},
		{"systemd", ModeHybrid, true, DriverSystemd, nil},
		{"systemd", ModeV2, false, "", errdefs.ErrFailedPrecondition},
		{"sysd", ModeV2, true, "", errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		got, err := ChooseDriver(tt.name, tt.mode, tt.systemd)
		if got != tt.want || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("ChooseDriver(%q, %s, systemd=%v) = %q, %v; want %q, %v", tt.name, tt.mode, tt.systemd, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestValidateParent(t *testing.T) {
	tests := []struct {
		driver, parent string
		wantMsg        string // "" = accepted
	}{
		{DriverCgroupfs, "", ""},
		{DriverCgroupfs, "/kubepods/burstable/pod1", ""},
		{DriverCgroupfs, "/krill", ""},
		{DriverCgroupfs, "kubepods-burstable-pod1.slice", "is a systemd slice but krilld uses the cgroupfs cgroup driver"},
		{DriverCgroupfs, "/kubepods.slice/kubepods-pod1.slice", "is a systemd slice but krilld uses the cgroupfs cgroup driver"},
		{DriverCgroupfs, "/kubepods.slice/x", "is a systemd slice"},
		{DriverCgroupfs, "/kubepods/../etc", `must not contain ".."`},
		{DriverSystemd, "", ""},
		{DriverSystemd, "kubepods-burstable-pod1.slice", ""},
		{DriverSystemd, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice", ""},
		{DriverSystemd, "/kubepods/burstable/pod1", "is a cgroupfs path but krilld uses the systemd cgroup driver"},
		{DriverSystemd, "kubepods--pod1.slice", "empty level"},
		{DriverSystemd, "../x.slice", `must not contain ".."`},
	}
	for _, tt := range tests {
		err := ValidateParent(tt.driver, tt.parent)
		switch {
		case tt.wantMsg == "" && err != nil:
			t.Errorf("ValidateParent(%s, %q) = %v, want nil", tt.driver, tt.parent, err)
		case tt.wantMsg != "" && (!errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantMsg)):
			t.Errorf("ValidateParent(%s, %q) = %v, want invalid argument containing %q", tt.driver, tt.parent, err, tt.wantMsg)
		}
	}
}
