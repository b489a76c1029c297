#!/bin/bash
# Guest job (run by test/vm/suite.sh through test/vm/run.sh): the kubelet
# e2e (test/kubelet/run.sh) on a systemd + cgroup v2 node, with the
# prebuilt kubelet, krilld, crane and test images suite.sh put in ./repo.
# The cgroup driver is $E2E_CGROUP_DRIVER from ./job.env.
set -u
share=/mnt/host
. "$share/job.env"
# run.sh uses /tmp and /run for its temp dirs; the 9p share is only read.
# Software emulation: a pod takes several times as long as on a real node.
KRILL_E2E_PREBUILT=1 E2E_CGROUP_DRIVER="$E2E_CGROUP_DRIVER" E2E_LATENCY_TIMEOUT=120s E2E_WAIT_SCALE=4 KRILLD="$share/repo/bin/krilld" \
	bash "$share/repo/test/kubelet/run.sh"
rc=$?
cp -rf "$share/repo/test/out/kubelet/." "$share/out/" 2>/dev/null
exit "$rc"
