// Package sandbox owns the life of a pod sandbox.
//
// A pod is a set of namespaces that outlive its app containers. Krill
// makes them in this order (RunPodSandbox):
//
//  1. the pause image (pulled, or the built-in one),
//  2. a network namespace, bind-mounted under state/netns (package network),
//  3. side by side, because neither waits for the other:
//     - CNI ADD on the netns, which gives the pod its IP (package network),
//     - the pause container (runc, no shim: it writes no logs and its exit
//     code matters to nobody), which joins the netns by path and creates
//     and holds the IPC and UTS namespaces, and the PID namespace when
//     the pod shares one,
//  4. the pod's files: hostname, hosts (with the pod IP), resolv.conf and a
//     tmpfs for /dev/shm,
//  5. the record, written last, so that a pod exists on disk only once
//     everything above it exists.
//
// Any failing step undoes the steps before it. The pod's own lifecycle
// events (CREATED, STARTED, STOPPED, DELETED, with the pod ID as container
// ID) go to package events. Stop tears the network down
// and kills pause but keeps files and records (kubelet still asks for the
// status); Remove deletes everything.
//
// The sandbox package never creates app containers and never imports the
// container package (which imports it): Stop, Remove, Status,
// ListFiltered and Recover are handed the pod's containers (PodContainers)
// by their caller, to stop and remove them before the pod goes and to put
// their statuses in the pod's events.
package sandbox
