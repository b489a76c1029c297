// Package nri connects Krill to NRI, the Node Resource Interface
// (github.com/containerd/nri): plugins on the node that see every pod and
// container lifecycle event and may adjust a container before it runs
// (annotations, env, mounts, hooks, devices, rlimits, CPU and memory,
// cgroup path, OOM score), update running containers, or evict them.
//
// It owns the NRI adaptation (the plugin socket, pre-installed plugins, the
// timeouts), the translation of Krill's records and OCI specs into NRI's
// types, the rules that keep a plugin inside Krill's security limits, and
// applying plugins' updates and evictions through the OCI runtime.
//
// sandbox and container call one method per lifecycle point; every method
// is a no-op when NRI is disabled. Only RunPodSandbox, CreateContainer and
// StartContainer can fail a CRI call (a plugin may veto them, as in
// containerd); every other event is told to plugins and failures are
// logged. A plugin that hangs past the request timeout, crashes or breaks
// the protocol is disconnected by the adaptation and the call goes on
// without it, so no plugin holds a pod longer than the configured timeouts.
//
// It must never call back into sandbox or container (they depend on it):
// updates and evictions go straight to oci.Runtime and the store.
package nri
