package spec

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
)

// sysctlName is kubelet's rule for a sysctl name in dotted form.
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

// ipcSysctls are the IPC-namespaced sysctls (besides fs.mqueue.*).
var ipcSysctls = map[string]bool{
	"kernel.shm_rmid_forced": true, "kernel.shmmax": true, "kernel.shmall": true, "kernel.shmmni": true,
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
}

// ValidateSysctls accepts only namespaced sysctls a pod may set without
// touching the node: net.* when the pod has its own network namespace, the
// IPC ones (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) when it has
// its own IPC namespace. Anything else would change the host.
//
// Names and values are also checked for smuggling (CVE-2022-0811: CRI-O
// passed "key=value+other=value" through a helper that split on '+' and '=',
// letting a pod set kernel.core_pattern on the host): a value containing '+'
// or '=' is refused, and names must match kubelet's syntax.
func ValidateSysctls(sysctls map[string]string, hostNetwork, hostIPC bool) error {
	for name, value := range sysctls {
		if len(name) > 253 || !sysctlName.MatchString(name) {
			return fmt.Errorf("sysctl %q: invalid name: %w", name, errdefs.ErrInvalidArgument)
		}
		if strings.ContainsAny(value, "+=") || strings.ContainsAny(value, "\x00\n") {
			return fmt.Errorf("sysctl %q: value %q must not contain '+', '=', NUL or newline: %w", name, value, errdefs.ErrInvalidArgument)
		}
		switch {
		case strings.HasPrefix(name, "net."):
			if hostNetwork {
				return fmt.Errorf("sysctl %q cannot be set for a pod in the host network namespace: %w", name, errdefs.ErrInvalidArgument)
			}
		case ipcSysctls[name] || strings.HasPrefix(name, "fs.mqueue."):
			if hostIPC {
				return fmt.Errorf("sysctl %q cannot be set for a pod in the host IPC namespace: %w", name, errdefs.ErrInvalidArgument)
			}
		default:
			return fmt.Errorf("sysctl %q is not namespaced: setting it would change the node: %w", name, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
