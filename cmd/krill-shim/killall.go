package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A container without a pid namespace of its own (it shares the pod's, the
// host's or another container's) is not torn down by the kernel when its
// init exits: a child it left behind lives on, reparented to the pod's
// pause, holding the output pipes, so the exit would wait out the drain
// timeout and the orphan would run until the pod stops. krilld decides at
// create (-kill-all-on-exit) that the container's processes all go with its
// init, as containerd's runc shim does; the shim carries it out because only
// it sees the moment the init exits.

// containerCgroupProcs finds the cgroup.procs file of the container whose
// init is pid, as the host sees it. It answers "" rather than risk a wrong
// file: the path must name the container (both cgroup drivers put its ID
// in it), so a misread can never reach the pod's or the node's cgroup.
func containerCgroupProcs(pid int, id string) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	return procsFile(string(b), id)
}

// procsFile picks the cgroup.procs file from a /proc/<pid>/cgroup text.
func procsFile(cgroup, id string) string {
	var v1, v2 string
	for _, line := range strings.Split(cgroup, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.Contains(f[2], id) {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			v2 = f[2]
		case v1 == "" && hasController(f[1], "pids", "memory", "cpu"):
			v1 = filepath.Join("/sys/fs/cgroup", strings.Split(f[1], ",")[0], f[2])
		}
	}
	if v1 != "" {
		// On a hybrid host the unified hierarchy holds only systemd's
		// tree; a v1 controller's directory holds the container.
		return filepath.Join(v1, "cgroup.procs")
	}
	if v2 != "" {
		return filepath.Join("/sys/fs/cgroup", v2, "cgroup.procs")
	}
	return ""
}

func hasController(list string, names ...string) bool {
	for _, c := range strings.Split(list, ",") {
		for _, n := range names {
			if c == n {
				return true
			}
		}
	}
	return false
}

// killAll SIGKILLs every process left in the container's cgroup, again
// until none is left (one may fork while it is read), for at most a second.
func killAll(procs string) {
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile(procs)
		if err != nil {
			return // the cgroup is gone (systemd removed the empty scope)
		}
		left := false
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				left = true
			}
		}
		if !left {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
