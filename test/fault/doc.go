// Package fault holds the fault-injection suite: krilld runs with runc and
// the CNI plugins behind wrappers that run a one-shot hook per verb (kill
// krilld, sleep, fail), on a small tmpfs root when a test fills the disk;
// tests kill shims and damage records. After each fault krilld is
// restarted and test/leakcheck must find nothing that no record owns.
//
// It needs root, bin/ built (`make build`), runc, busybox-static,
// docker-registry and the CNI plugins (bridge, host-local, portmap).
package fault
