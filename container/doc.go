// Package container owns the life of app containers.
//
// CreateContainer: image -> writable overlay snapshot mounted at
// bundle/rootfs -> OCI spec (package container/spec) + cgroup limits
// (package cgroups) -> krill-shim + `runc create` (package oci) -> record.
// StartContainer: `runc start`, then a waiter goroutine that records the
// exit (code, time, OOMKilled) when the shim reports it.
//
// The shim, not krilld, is the container's parent: containers and their
// logs keep running while krilld is stopped, and Recover re-attaches to
// them from the records on disk.
//
// It never touches pod namespaces itself: it joins what package sandbox made.
package container
