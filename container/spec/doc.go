// Package spec turns a CRI container (or pod sandbox) request into an OCI
// runtime spec (config.json) for runc.
//
// It owns every decision about what a container looks like from the inside:
// the process (args, env, cwd, user and groups), the namespaces it creates or
// joins, its mounts, its capabilities, seccomp, masked paths, devices and the
// annotations kubelet tools look for. The rules mirror containerd 2.x
// (internal/cri) so that kubelet and critest see the behaviour they expect;
// where Krill differs, the comment next to the code says why.
//
// Generate builds an application container's spec, GenerateSandbox the pause
// container's. ValidateSysctls is shared with the sandbox package, and
// MergeResources lets the caller add the cgroup resources (mapped by the
// cgroups package) without losing the device rules set here.
//
// What it must never do: change the host. It reads the container's rootfs
// (/etc/passwd, /etc/group, symlinks of mount targets, always confined to the
// rootfs with filepath-securejoin), a Localhost seccomp profile, and a few
// host facts it cannot be told (the caller's capability set, device nodes
// asked for, the mount a bind source lives on). The single exception to
// "no writes", kept for kubelet compatibility exactly as containerd does it:
// a CRI bind mount whose host path does not exist is created as an empty
// directory. It never mounts, never creates cgroups, and never calls runc.
// Linux.Resources beyond device rules belong to the cgroups package.
package spec
