// Package cgroups owns everything Krill knows about Linux control groups:
//
//   - translating CRI LinuxContainerResources into OCI LinuxResources (ToOCI)
//     and back (FromOCI), and the oom_score_adj clamp (OOMScoreAdj);
//   - describing which cgroup files those resources become on cgroup v1 and
//     v2 (V1Files, V2Files), the same way runc 1.1.5 writes them;
//   - the cgroup driver (ChooseDriver: cgroupfs, or systemd where systemd
//     owns a v2 tree) and naming container cgroups in its form
//     (ContainerPath: "/parent/<id>" or runc's "slice:krill:<id>"),
//     refusing a pod parent of the other driver's form (ValidateParent);
//     every reader below takes either form and finds the real directory,
//     expanding systemd slice names (ExpandSlice);
//   - detecting the host layout (v1, hybrid, v2), trimming resources the
//     host cannot enforce (DropUnsupported), reading statistics (Stats),
//     noticing OOM kills (OOMKilled, WatchOOM) and removing cgroups in every
//     hierarchy (Remove);
//   - turning statistics into CRI stats and cAdvisor-named CRI metrics,
//     including the per-process counts (ProcessCounts reads /proc/<pid>/fd
//     of every process in a cgroup), block I/O (device names from
//     /sys/dev/block) and /proc/net/dev contents (ParseNetDev).
//
// It never creates cgroups or writes limits for containers: runc does that
// from the OCI spec, and Krill only reads what runc made. It never moves
// processes between cgroups and never kills processes. Everything works on a
// fake directory tree given to New, so v2 logic is testable on a v1
// host.
package cgroups
