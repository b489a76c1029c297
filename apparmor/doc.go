// Package apparmor is Krill's view of the host's AppArmor: whether the
// kernel enforces it, which profiles are loaded, and loading Krill's default
// container profile ("krill-default") when a container asks for the runtime
// default. The profile text and its loading (apparmor_parser -Kr) come from
// containerd's contrib/apparmor, so Krill's default confines exactly as
// containerd's cri-containerd.apparmor.d does.
//
// It never unloads profiles (another krilld, or the administrator, may use
// them) and never decides what a container gets: container/spec does, given
// a Host.
package apparmor
