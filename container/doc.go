// Package container owns the life of app containers.
//
// CreateContainer: image -> writable overlay snapshot mounted at
// bundle/rootfs -> OCI spec (package container/spec) + cgroup limits
// (package cgroups) + CDI devices -> NRI adjustments -> record; each step
// adds its undo to an undo.List that a later failure runs.
// StartContainer: krill-shim + `runc create` + `runc start` (package oci),
// then a waiter goroutine that records the exit (code, time, OOMKilled)
// when the shim reports it. A start that fails leaves the container
// EXITED with exit code 128 and reason StartError, as containerd and
// CRI-O report it.
//
// The shim, not krilld, is the container's parent: containers and their
// logs keep running while krilld is stopped, and Recover re-attaches to
// them from the records on disk.
//
// It never touches pod namespaces itself: it joins what package sandbox made.
package container
