package oci

import (
	"encoding/json"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// OwnsPIDNamespace tells from the bundle's spec (what runc runs, NRI
// adjustments included) whether the container gets a PID namespace of its
// own. When in doubt, no. Two things follow from a shared one (the pod's,
// a target container's, the host's): the kernel does not empty it when the
// init exits, so the shim is told to kill what the init left behind
// (containerd's runc shim: ShouldKillAllOnExit), and killing the init alone
// does not stop the container (StopContainer needs `runc kill --all`).
func OwnsPIDNamespace(bundle string) bool {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var s struct {
		Linux *struct {
			Namespaces []specs.LinuxNamespace `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(data, &s) != nil || s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path == ""
		}
	}
	return false
}
