#!/usr/bin/env bash
# Usage: test/vm/suite.sh [--ci|--full]   (make test-vm-ci / make test-vm)
#
# The VM suites: Krill on a Debian 12 node with systemd and cgroup v2, in
# QEMU (run.sh; boot it only under `flock /tmp/krill-heavy.lock` on a
# shared machine). Two VMs, each from a clean disk:
#   service  Krill installed as a systemd service (jobs/service.sh): krilld
#            check, Type=notify start, a pod + container with limits,
#            restart/stop of the service keep the container and its log,
#            then critest on the service's socket, its images pulled from
#            the host's test registry through one guestfwd;
#   kubelet  the kubelet e2e (test/kubelet/run.sh, jobs/kubelet.sh).
# --full runs every critest spec, --ci (default) the subset in CI_CRITEST_SKIP.
#
# Environment:
#   VM_SUITES          which VMs to run (default "service kubelet").
#   VM_CRITEST         empty: the service VM skips critest (default 1).
#   VM_CGROUP_DRIVER   systemd (default) or cgroupfs: krilld's [cgroup]
#                      driver in both VMs, and kubelet's cgroupDriver (with
#                      systemd: kubelet's defaults, no failCgroupV1).
#   VM_EXPECT_CGROUPNS set: a container must see 0::/ in /proc/self/cgroup
#                      (a FAIL otherwise; unset, it is printed as INFO).
#   VM_CRITEST_FOCUS   regex: critest runs only the specs it matches.
#   VM_CRITEST_ALLOW_FAIL  regex of critest specs that may fail (default: the
#                      digest-pinned upstream image, which no offline run has).
# Logs of the last run: test/vm/out/{service,kubelet}/. Last line:
# "vm-suite: service rc=N kubelet rc=M, total Ss".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
mode=ci
case "${1:-}" in
--full) mode=full ;;
--ci|"") mode=ci ;;
*) echo "usage: suite.sh [--ci|--full]" >&2; exit 2 ;;
esac
driver="${VM_CGROUP_DRIVER:-systemd}"
suites=" ${VM_SUITES:-service kubelet} "
allow="${VM_CRITEST_ALLOW_FAIL-public image with digest should be pulled and removed}"
# The CI subset leaves out the slowest spec groups under emulation (each
# boots many containers); make test-vm runs them.
CI_CRITEST_SKIP='Networking|Streaming|runtime should support execSync with timeout'
# How long the service VM may run: every critest spec under emulation takes
# far longer than the CI subset.
service_timeout=2400
[[ $mode == ci ]] || service_timeout=4800
t0=$SECONDS
log() { echo "suite.sh: [$((SECONDS - t0))s] $*" >&2; }

# ---------------------------------------------------------------- prerequisites (host)
for b in krilld krill-shim krill-pause; do
	[[ -x "$repo_root/bin/$b" ]] || { log "no bin/$b: make build"; exit 1; }
done
cbin="$repo_root/test/critest/bin"
kbin="$repo_root/test/kubelet/bin"
bash "$repo_root/test/critest/build.sh"
# A current runc for the user-namespace specs (Debian 12's 1.1.5 cannot
# idmap mounts): the service VM adds it as a second handler, runc-current.
runc_current="$(bash "$repo_root/hack/build-runc.sh")"
bash "$repo_root/test/images/build.sh" >&2
(cd "$repo_root" && go build -o "$cbin/summary" ./test/critest/summary)
if [[ ! -x "$cbin/crictl" ]]; then
	GOBIN="$cbin" GOFLAGS=-buildvcs=false go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
fi
if [[ "$suites" == *" kubelet "* ]]; then
	bash "$repo_root/test/kubelet/build.sh" >&2
	(cd "$repo_root" && go build -o "$kbin/latency" ./test/kubelet/latency)
	cp -f "$cbin/crictl" "$kbin/crictl"
fi
log "host prerequisites ready"
t=$SECONDS
bash "$here/build-image.sh" >/dev/null
log "VM image ready in $((SECONDS - t))s"

tmp="$(mktemp -d /tmp/krill-vm-suite.XXXXXX)"
registry_pid=""
cleanup() {
	set +e
	[[ -z "$registry_pid" ]] || kill "$registry_pid" 2>/dev/null
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
out="$here/out"
rm -rf "$out"
mkdir -p "$out"

service_rc=skipped service_s=0 kubelet_rc=skipped kubelet_s=0
# ---------------------------------------------------------------- service VM
run_service() {
	mkdir -p "$tmp/registry"
	bash "$repo_root/test/images/serve.sh" --no-build --state "$tmp/registry" >/dev/null
	registry_pid="$(cat "$tmp/registry/registry.pid")"
	port="$(cat "$tmp/registry/registry.port")"
	log "test registry on 127.0.0.1:$port (pid $registry_pid), the VM reaches it as 10.0.2.100:$port"

	skip=()
	[[ "$mode" == full ]] || skip=("--ginkgo.skip=$CI_CRITEST_SKIP")
	[[ -z "${VM_CRITEST_FOCUS:-}" ]] || skip=("--ginkgo.focus=$VM_CRITEST_FOCUS")
	{
		echo "REGISTRY_PORT=$port"
		echo "KRILL_CGROUP_DRIVER=$driver"
		echo "EXPECT_CGROUPNS=${VM_EXPECT_CGROUPNS:-}"
		echo "CRITEST=${VM_CRITEST-1}"
		printf 'CRITEST_ARGS=(%s)\n' "${skip[*]@Q}"
		printf 'CRITEST_ALLOW_FAIL=%q\n' "$allow"
	} >"$tmp/job.env"
	t=$SECONDS
	set +e
	bash "$here/run.sh" --forward "$port:$port" --timeout "$service_timeout" --out "$out/service" "$here/jobs/service.sh" \
		"$tmp/job.env" "$repo_root"/bin/{krilld,krill-shim,krill-pause} "$cbin"/{crictl,critest,summary} \
		"$repo_root/contrib" "$repo_root/test/images/mirrors.sh" "$runc_current"
	service_rc=$?
	set -e
	service_s=$((SECONDS - t))
	log "service VM: exit $service_rc in ${service_s}s"
	kill "$registry_pid" 2>/dev/null || true
	registry_pid=""
}

# ---------------------------------------------------------------- kubelet VM
run_kubelet() {
	# run.sh and what it runs, laid out as in the repo (the VM has no Go).
	r="$tmp/repo"
	mkdir -p "$r/bin" "$r/test/kubelet/bin" "$r/test/images/bin" "$r/test/images/out"
	cp -a "$repo_root"/bin/{krilld,krill-shim,krill-pause} "$r/bin/"
	cp -a "$repo_root/test/lib.sh" "$r/test/"
	cp -a "$repo_root/test/kubelet/run.sh" "$r/test/kubelet/"
	cp -a "$kbin"/{kubelet,kexec,latency,crictl} "$r/test/kubelet/bin/"
	cp -a "$repo_root"/test/images/{serve.sh,build.sh,mirrors.sh} "$r/test/images/"
	cp -a "$repo_root/test/images/bin/crane" "$r/test/images/bin/"
	cp -a "$repo_root"/test/images/out/{images.txt,layouts} "$r/test/images/out/"
	echo "E2E_CGROUP_DRIVER=$driver" >"$tmp/job.env"
	t=$SECONDS
	set +e
	bash "$here/run.sh" --timeout 3600 --out "$out/kubelet" "$here/jobs/kubelet.sh" "$tmp/job.env" "$r"
	kubelet_rc=$?
	set -e
	kubelet_s=$((SECONDS - t))
	log "kubelet VM: exit $kubelet_rc in ${kubelet_s}s"
}

[[ "$suites" != *" service "* ]] || run_service
[[ "$suites" != *" kubelet "* ]] || run_kubelet

echo "vm-suite ($mode, cgroup driver $driver): service rc=$service_rc (${service_s}s) kubelet rc=$kubelet_rc (${kubelet_s}s), total $((SECONDS - t0))s"
[[ "$service_rc" =~ ^(0|skipped)$ && "$kubelet_rc" =~ ^(0|skipped)$ ]]
