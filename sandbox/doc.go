// Package sandbox owns the life of a pod sandbox.
//
// A pod is a set of namespaces that outlive its app containers. Krill
// makes them in this order (RunPodSandbox):
//
//  1. a network namespace, bind-mounted under state/netns (package network),
//  2. CNI ADD on it, which gives the pod its IP (package network),
//  3. the pod's files: hostname, hosts, resolv.conf and a tmpfs for /dev/shm,
//  4. the pause container (runc, no shim: it writes no logs and its exit
//     code matters to nobody), which creates and holds the IPC and UTS
//     namespaces, and the PID namespace when the pod shares one,
//  5. the record, written last, so that a pod exists on disk only once
//     everything above it exists.
//
// Any failing step undoes the steps before it. Stop tears the network down
// and kills pause but keeps files and records (kubelet still asks for the
// status); Remove deletes everything.
//
// The sandbox package never creates app containers: it asks the container
// package (through ContainerReaper) to stop and remove the pod's containers.
package sandbox
