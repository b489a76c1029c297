package oci

import (
	"encoding/json"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ownsPIDNamespace tells whether the bundle's container gets a pid
// namespace of its own. One that shares another (the pod's, a target
// container's, the host's) is not emptied by the kernel when its init
// exits, so its shim is told to kill what the init left behind
// (containerd's runc shim does the same: ShouldKillAllOnExit). A bundle
// that cannot be read counts as owning one: killing is the exception.
func ownsPIDNamespace(bundle string) bool {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return true
	}
	var s struct {
		Linux *struct {
			Namespaces []specs.LinuxNamespace `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &s) != nil || s.Linux == nil {
		return true
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}
