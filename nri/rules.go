package nri

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	validator "github.com/containerd/nri/plugins/default-validator/builtin"

	"github.com/krill-runtime/krill/cgroups"
)

// securityRules configures NRI's built-in validator, which runs after
// every plugin answered CreateContainer and fails the creation when the
// combined adjustment breaks a rule (containerd ships the same validator,
// off by default; Krill turns the isolation rules on):
//   - namespaces: a plugin may not add, remove or re-point a container's
//     namespaces, so it cannot move a pod's container into the host's
//     network, PID or IPC namespace the pod did not ask for;
//   - seccomp: a plugin may not replace the seccomp policy, whatever the
//     container had (RuntimeDefault, Unconfined or Localhost);
//   - sysctls: a plugin may not set sysctls; with host networking a
//     net.* sysctl would change the host's.
//
// Devices, mounts and OCI hooks stay allowed: injecting them is what
// device and resource plugins are for, and a plugin is a root-owned node
// component. The OOM score is clamped rather than refused (clampOOMScore).
func securityRules() *validator.DefaultValidatorConfig {
	return &validator.DefaultValidatorConfig{
		Enable:                                true,
		RejectNamespaceAdjustment:             true,
		RejectRuntimeDefaultSeccompAdjustment: true,
		RejectUnconfinedSeccompAdjustment:     true,
		RejectCustomSeccompAdjustment:         true,
		RejectSysctlAdjustment:                true,
	}
}

// clampOOMScore keeps a plugin-set oom_score_adj at or above krilld's own
// value: this host cannot lower it (no CAP_SYS_RESOURCE) and runc would
// fail the container, the same rule Krill applies to kubelet's -997/-998
// (containerd's restrict_oom_score_adj).
func (s *Service) clampOOMScore(spec *specs.Spec) {
	if spec.Process == nil || spec.Process.OOMScoreAdj == nil {
		return
	}
	v := cgroups.ClampOOMScoreAdj(*spec.Process.OOMScoreAdj, s.DaemonOOMScoreAdj)
	spec.Process.OOMScoreAdj = &v
}
