package main

import "testing"

func TestProcsFile(t *testing.T) {
	const id = "0123abcd"
	for _, tc := range []struct{ name, cgroup, want string }{
		{"hybrid v1 cgroupfs", "12:pids:/kubepods/pod1/0123abcd\n4:memory:/kubepods/pod1/0123abcd\n1:name=systemd:/kubepods/pod1/0123abcd\n0::/\n",
			"/sys/fs/cgroup/pids/kubepods/pod1/0123abcd/cgroup.procs"},
		{"joined v1 controllers", "5:cpu,cpuacct:/p/0123abcd\n", "/sys/fs/cgroup/cpu/p/0123abcd/cgroup.procs"},
		{"pure v2 systemd", "0::/kubepods.slice/krill-0123abcd.scope\n", "/sys/fs/cgroup/kubepods.slice/krill-0123abcd.scope/cgroup.procs"},
		// Never a cgroup that does not name the container: the pod's or the
		// node's would take innocent processes with it.
		{"no id in path", "0::/kubepods.slice\n12:pids:/\n", ""},
		{"root", "0::/\n", ""},
		{"empty", "", ""},
	} {
		if got := procsFile(tc.cgroup, id); got != tc.want {
			t.Errorf("%s: procsFile = %q, want %q", tc.name, got, tc.want)
		}
	}
}
