#!/usr/bin/env bash
# Usage: run.sh [--benchmark] [extra critest/ginkgo args...]
#
# Runs critest v1.37.0 against a freshly started krilld, offline:
#   1. builds critest and the test images (both cached, see build.sh and
#      ../images/build.sh) and serves the images from a local registry;
#   2. writes registry mirror files (every upstream registry -> the local
#      one), a CNI conf dir with one bridge network krillct0 (10.89.0.0/24,
#      no masquerading, portmap, loopback) and a krilld config, all under one
#      temporary directory, so each run starts with an empty image store;
#   3. starts $KRILLD (default: <repo>/bin/krilld) and runs critest on its
#      socket, with a JUnit report; $CRITEST_RUNC (an OCI runtime binary)
#      becomes krilld's default handler, $KRILLD_CONFIG_EXTRA is appended to
#      its config;
#   4. prints "FAIL: <spec>" per failed spec and, last, exactly
#      "critest: N passed, M failed, K skipped". Exits non-zero when M > 0.
#      Specs whose name matches the regex in $CRITEST_ALLOW_FAIL are printed
#      as "KNOWN-FAIL: <spec>" and do not count. Unset, it tolerates the one
#      spec no offline run can pass (an image pinned to upstream bytes by
#      digest); set it to "" to tolerate nothing.
# With --benchmark, critest runs its benchmarks instead ($CRITEST_BENCH_N
# samples each, default 20) and the per-operation latencies (mean, median,
# p95) are printed from its benchmark data.
#
# On exit everything is undone: pods removed through crictl, krilld and the
# registry stopped by PID, mounts under the temp dir unmounted, leftover runc
# containers of this run deleted, the krillct0 bridge and portmap's iptables
# rules for 10.89.0.0/24 removed. Logs of the last run stay in test/critest/out/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib.sh"
repo_root="$(cd "$here/../.." && pwd)"
images="$repo_root/test/images"

benchmark=""
args=()
for a in "$@"; do
	case "$a" in
	--benchmark) benchmark=1 ;;
	*) args+=("$a") ;;
	esac
done

KRILLD="${KRILLD:-$repo_root/bin/krilld}"
BRIDGE=krillct0
SUBNET_PREFIX=10.89.0.
bin="$here/bin"
out="$here/out"

log() { echo "run.sh: $*" >&2; }

# ---------------------------------------------------------------- prerequisites

bash "$here/build.sh"
bash "$images/build.sh" >&2
mkdir -p "$bin"
(cd "$repo_root" && go build -o "$bin/summary" ./test/critest/summary)
crictl="$bin/crictl"
if [[ ! -x "$crictl" ]]; then
	GOBIN="$bin" GOFLAGS=-buildvcs=false go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
fi
if [[ ! -x /usr/lib/cni/bridge && ! -x /opt/cni/bin/bridge ]]; then
	apt-get install -y --no-install-recommends containernetworking-plugins >&2
fi
if [[ ! -x "$KRILLD" ]]; then
	log "no krilld at $KRILLD (build it: go build -o bin/krilld ./cmd/krilld, or set KRILLD)"
	exit 1
fi

# critest uses fixed host ports and the bridge name is fixed: one run at a time.
exec 9>/tmp/krill-critest.lock
if ! flock -n 9; then
	log "another critest run holds /tmp/krill-critest.lock"
	exit 1
fi

# ---------------------------------------------------------------- cleanup

mkdir -p "$out"
rm -f "$out"/*.log "$out/junit.xml"
# Short on purpose: krilld puts unix sockets at <state>/shims/<64-hex id>/*.sock,
# which must fit in 107 bytes.
tmp="$(mktemp -d /tmp/kc.XXXXXX)"
# Like /run: the root of a user-namespaced container is nobody on the host
# and must be able to walk down to its rootfs.
chmod 711 "$tmp"
sock="$tmp/krill.sock"
krilld_pid=""
registry_pid=""

cleanup() {
	local rc=$?
	set +e
	# Cleanup notes go to a file: the summary must stay the last line printed.
	exec 2>>"$out/cleanup.log"
	if [[ -n "$krilld_pid" ]] && kill -0 "$krilld_pid" 2>/dev/null; then
		"$crictl" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --timeout 60s rmp -fa >/dev/null 2>&1
		stop_pid "$krilld_pid" krilld
	fi
	[[ -z "$registry_pid" ]] || stop_pid "$registry_pid" registry
	delete_runc_leftovers "$tmp"
	unmount_under "$tmp"
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
	# critest pods have no cgroup parent, so krilld put them under its default
	# parent /krill; remove it where it is left empty (rmdir refuses otherwise).
	rmdir /sys/fs/cgroup/*/krill 2>/dev/null || true
	clean_portmap_rules
	[[ -f "$tmp/krilld.log" ]] && cp -f "$tmp/krilld.log" "$out/krilld.log"
	[[ -f "$tmp/registry/registry.log" ]] && cp -f "$tmp/registry/registry.log" "$out/registry.log"
	rm -rf --one-file-system "$tmp"
	exit "$rc"
}




trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- registry, mirrors, CNI, config

mkdir -p "$tmp/registry"
# 9>&-: the lock must not leak into the registry, krilld or its shims, or a
# survivor would block every later run.
bash "$images/serve.sh" --no-build --state "$tmp/registry" >/dev/null 9>&-
registry_pid="$(cat "$tmp/registry/registry.pid")"
port="$(cat "$tmp/registry/registry.port")"
log "registry on 127.0.0.1:$port (pid $registry_pid)"

bash "$images/mirrors.sh" "$tmp/certs.d" "$port"

write_cni_conflist "$tmp/net.d/10-krillct0.conflist" krill-critest "$BRIDGE" "${SUBNET_PREFIX}0/24" "$tmp/cni-ipam"
write_krilld_config "$tmp/krilld.toml" "$tmp/root" "$tmp/state" "$sock" "$tmp/certs.d" "$tmp/net.d"
# CRITEST_RUNC: an OCI runtime binary to run everything with (the default
# handler "runc-new"), e.g. the current runc of hack/build-runc.sh, with
# which the user-namespace specs run instead of being skipped.
if [[ -n "${CRITEST_RUNC:-}" ]]; then
	printf '[runtime]\ndefault_handler = "runc-new"\n[runtime.handlers.runc-new]\npath = "%s"\n' "$CRITEST_RUNC" >>"$tmp/krilld.toml"
fi
# KRILLD_CONFIG_EXTRA: more TOML appended to krilld's config.
if [[ -n "${KRILLD_CONFIG_EXTRA:-}" ]]; then
	printf '%s\n' "$KRILLD_CONFIG_EXTRA" >>"$tmp/krilld.toml"
fi
cp -f "$tmp/krilld.toml" "$tmp/net.d/10-krillct0.conflist" "$out/"

# ---------------------------------------------------------------- krilld

"$KRILLD" --config "$tmp/krilld.toml" </dev/null >"$tmp/krilld.log" 2>&1 9>&- &
krilld_pid=$!
log "krilld started (pid $krilld_pid), log: $tmp/krilld.log"
for i in $(seq 600); do
	[[ -S "$sock" ]] && break
	if ! kill -0 "$krilld_pid" 2>/dev/null; then
		log "krilld exited before serving:"
		tail -n 30 "$tmp/krilld.log" >&2
		exit 1
	fi
	sleep 0.1
done
[[ -S "$sock" ]] || { log "no socket at $sock after 60 s"; exit 1; }

# ---------------------------------------------------------------- critest

# --nri-socket: critest's NRI specs connect their own plugins there.
critest_args=(--runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --nri-socket "$tmp/nri.sock"
	"--ginkgo.junit-report=$out/junit.xml" --ginkgo.no-color)
if [[ -n "$benchmark" ]]; then
	rm -rf "$out/bench"
	mkdir -p "$out/bench"
	# Without a params file every lifecycle benchmark skips itself. N samples
	# each, sequential ($CRITEST_BENCH_N, default 20).
	n="${CRITEST_BENCH_N:-20}"
	cat >"$out/bench-params.yaml" <<-EOF
		containersNumber: $n
		containersNumberParallel: 1
		containerBenchmarkTimeoutSeconds: 60
		podsNumber: $n
		podsNumberParallel: 1
		podBenchmarkTimeoutSeconds: 60
		imagesNumber: $n
		imagesNumberParallel: 1
		imageBenchmarkTimeoutSeconds: 60
	EOF
	critest_args+=(--benchmark "--benchmarking-output-dir=$out/bench" "--benchmarking-params-file=$out/bench-params.yaml")
fi
log "critest ${critest_args[*]} ${args[*]:-}"
set +e
"$bin/critest" "${critest_args[@]}" "${args[@]}" 2>&1 9>&- | tee "$out/critest.log"
critest_rc=${PIPESTATUS[0]}
set -e
cp -f "$tmp/krilld.log" "$out/krilld.log" 2>/dev/null || true

if [[ -n "$benchmark" ]]; then
	"$bin/summary" bench "$out/bench" || true
fi
if [[ ! -s "$out/junit.xml" ]]; then
	log "critest wrote no JUnit report (exit $critest_rc)"
	exit 1
fi
"$bin/summary" junit "$out/junit.xml" "${CRITEST_ALLOW_FAIL-public image with digest should be pulled and removed}"
