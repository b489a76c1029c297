#!/usr/bin/env bash
# Usage: run.sh
#
# End-to-end test: a real kubelet (v1.37.2, standalone, static pods) runs its
# pods on a throw-away krilld.
#   1. builds kubelet (cached, build.sh), the test images (../images) and
#      crictl; serves the images from a local registry that krilld reaches
#      through registry mirrors, and starts a second registry with htpasswd
#      auth (Debian docker-registry) for the private-image scenario;
#   2. starts krilld (temp root/state/socket, CNI bridge krillkt0 on
#      10.90.0.0/24, no masquerading) and kubelet (temp root dir, cgroup root
#      /krill-e2e-kubelet, logs and volume plugins under the temp dir,
#      127.0.0.1 only);
#   3. drives scenarios by dropping manifests into kubelet's static pod dir
#      and checks them through crictl (krilld) and kubelet's own API (/pods,
#      /containerLogs, /run, /exec, healthz); prints PASS/FAIL per scenario,
#      the manifest -> Running latency (median of 5), and last exactly
#      "e2e-kubelet: N passed, M failed". Exits non-zero when M > 0.
#
# Everything is undone on exit: kubelet, krilld and the registries stopped by
# PID, pods removed through crictl, mounts under the temp dir unmounted,
# cgroups under /krill-e2e-kubelet removed, the bridge deleted, the sysctls
# kubelet sets restored, kubelet's /var/log/containers symlinks removed.
# Logs of the last run stay in test/out/kubelet/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
images="$repo_root/test/images"

KRILLD="${KRILLD:-$repo_root/bin/krilld}"
KUBELET="$here/bin/kubelet"
KEXEC="$here/bin/kexec"
CRICTL_VERSION=v1.37.0
NODE=krill-e2e                 # --hostname-override: static pods are "<name>-krill-e2e"
CGROOT=krill-e2e-kubelet       # kubelet's cgroupRoot, in every v1 hierarchy
BRIDGE=krillkt0
SUBNET_PREFIX=10.90.0.
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
POLICY_IMAGE=registry.k8s.io/krill-e2e/policy:1   # pushed twice with different content
NEVER_IMAGE=registry.k8s.io/krill-e2e/never:1     # in the registry, never pulled
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
bin="$here/bin"
out="$repo_root/test/out/kubelet"

log() { echo "run.sh: $*" >&2; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---------------------------------------------------------------- prerequisites

t_build=$(ms)
bash "$here/build.sh" >&2
bash "$images/build.sh" >&2
crane="$images/bin/crane"
crictl="$bin/crictl"
if [[ ! -x "$crictl" ]]; then
	GOBIN="$bin" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi
missing=()
[[ -x /usr/lib/cni/bridge || -x /opt/cni/bin/bridge ]] || missing+=(containernetworking-plugins)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v htpasswd >/dev/null || missing+=(apache2-utils)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
[[ ${#missing[@]} -eq 0 ]] || apt-get install -y --no-install-recommends "${missing[@]}" >&2
[[ -x "$KRILLD" ]] || { log "no krilld at $KRILLD (make build, or set KRILLD)"; exit 1; }
log "prerequisites ready in $(( ($(ms) - t_build) / 1000 ))s"

# ---------------------------------------------------------------- cleanup

mkdir -p "$out"
rm -f "$out"/*.log "$out"/*.yaml "$out"/*.toml
tmp="$(mktemp -d /tmp/krill-kubelet.XXXXXX)"
sock="$tmp/krill.sock"
kroot="$tmp/kubelet"
krilld_pid="" kubelet_pid="" registry_pid="" private_pid=""
declare -A saved_sysctl=()
for s in "${SYSCTLS[@]}"; do
	saved_sysctl[$s]="$(sysctl -n "$s" 2>/dev/null || true)"
done

cleanup() {
	local rc=$?
	set +e
	# Cleanup notes go to a file: the summary must stay the last line printed.
	exec 2>>"$out/cleanup.log"
	# kubelet first, or it would restart what is being removed.
	[[ -z "$kubelet_pid" ]] || stop_pid "$kubelet_pid" kubelet
	if [[ -n "$krilld_pid" ]] && kill -0 "$krilld_pid" 2>/dev/null; then
		cri --timeout 60s rmp -fa >/dev/null
		stop_pid "$krilld_pid" krilld
	fi
	[[ -z "$registry_pid" ]] || stop_pid "$registry_pid" registry
	[[ -z "$private_pid" ]] || stop_pid "$private_pid" private-registry
	# Containers krilld could not remove: every runc state dir under the
	# temp dir is one of ours.
	local st root id
	while read -r st; do
		root="$(dirname "$(dirname "$st")")"
		id="$(basename "$(dirname "$st")")"
		log "cleanup: deleting leftover runc container $id"
		runc --root "$root" delete --force "$id" >/dev/null 2>&1
	done < <(find "$tmp" -name state.json -path '*/runc*' 2>/dev/null)
	# kubelet bind-mounts its root dir onto itself: unmount_under covers it.
	unmount_under "$tmp"
	remove_cgroups
	ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
	clean_portmap_rules
	local s
	for s in "${!saved_sysctl[@]}"; do
		[[ -z "${saved_sysctl[$s]}" ]] || sysctl -q -w "$s=${saved_sysctl[$s]}" >/dev/null
	done
	# /var/log/containers is hard-coded in kubelet: remove the links that
	# point into this run's pod log dir, nothing else.
	local l
	for l in /var/log/containers/*.log; do
		[[ -L "$l" ]] || continue
		[[ "$(readlink "$l")" == "$tmp/"* ]] && rm -f "$l"
	done
	rmdir /var/log/containers 2>/dev/null
	local f
	for f in krilld.log kubelet.log registry/registry.log private/registry.log; do
		[[ -f "$tmp/$f" ]] && cp -f "$tmp/$f" "$out/$(basename "$(dirname "$f")" | sed 's/^\.$//;s/^tmp.*//')${f##*/}"
	done
	rm -rf --one-file-system "$tmp"
	exit "$rc"
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after 15 s. Only processes this
# script started are ever signalled.
stop_pid() {
	local pid="$1" name="$2" i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	log "cleanup: $name ($pid) ignored SIGTERM, killing"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# unmount_under DIR: unmounts every mount point below DIR (and DIR's own
# subdirectories mounted onto themselves), deepest first, repeatedly: a bind
# mount can be stacked.
unmount_under() {
	local dir="$1" m pass
	for pass in 1 2 3; do
		local any=""
		while read -r m; do
			any=1
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cleanup: cannot unmount $m"
		done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
		[[ -n "$any" ]] || break
	done
}

# cgroup_dirs: the cgroup hierarchies mounted under /sys/fs/cgroup (v1
# controllers, name=systemd, and the unified one).
cgroup_dirs() {
	awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | grep '^/sys/fs/cgroup' | sort -u
}

make_cgroups() {
	local d
	for d in $(cgroup_dirs); do
		mkdir -p "$d/$CGROOT"
		# A new cpuset cgroup starts with no CPUs and no memory nodes.
		if [[ -f "$d/cpuset.cpus" ]]; then
			cat "$d/cpuset.cpus" >"$d/$CGROOT/cpuset.cpus"
			cat "$d/cpuset.mems" >"$d/$CGROOT/cpuset.mems"
		fi
	done
}

remove_cgroups() {
	local d c
	for d in $(cgroup_dirs); do
		[[ -d "$d/$CGROOT" ]] || continue
		while read -r c; do
			rmdir "$c" 2>/dev/null || log "cleanup: cannot remove cgroup $c"
		done < <(find "$d/$CGROOT" -depth -type d)
	done
}

# clean_portmap_rules: removes what the portmap plugin may have left for
# the test subnet (no scenario maps host ports, this is a safety net).
clean_portmap_rules() {
	command -v iptables >/dev/null || return 0
	local c rule
	for c in $(iptables -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-DN-/ { print $2 }'); do
		iptables -t nat -S "$c" 2>/dev/null | grep -qF -- "$SUBNET_PREFIX" || continue
		while read -r rule; do
			eval "iptables -t nat -D ${rule#-A }" 2>/dev/null
		done < <(iptables -t nat -S | grep -E -- "^-A .* -j $c( |$)")
		iptables -t nat -F "$c" 2>/dev/null
		iptables -t nat -X "$c" 2>/dev/null
	done
}

trap cleanup EXIT
trap 'exit 130' INT TERM

cri() { "$crictl" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" "$@"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS CMD...: polls CMD every 0.25 s until it succeeds.
wait_until() {
	local deadline=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do
		(( $(date +%s) < deadline )) || return 1
		sleep 0.25
	done
}

# ---------------------------------------------------------------- registries

mkdir -p "$tmp/registry"
bash "$images/serve.sh" --no-build --state "$tmp/registry" >/dev/null
registry_pid="$(cat "$tmp/registry/registry.pid")"
port="$(cat "$tmp/registry/registry.port")"
log "registry on 127.0.0.1:$port (pid $registry_pid)"

# The private registry: distribution with htpasswd auth, plain HTTP on
# 127.0.0.1. The same registry is also named localhost:PORT, for which the
# node has no credentials.
PRIV_USER=krill PRIV_PASS="e2e-$RANDOM-$RANDOM"
pport="$(free_port)"
mkdir -p "$tmp/private/data" "$tmp/pushauth"
htpasswd -B -b -c "$tmp/private/htpasswd" "$PRIV_USER" "$PRIV_PASS" 2>/dev/null
cat >"$tmp/private/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $tmp/private/data
http:
  addr: 127.0.0.1:$pport
  secret: krill-e2e-kubelet-$RANDOM
auth:
  htpasswd:
    realm: krill-e2e
    path: $tmp/private/htpasswd
EOF
docker-registry serve "$tmp/private/config.yml" </dev/null >"$tmp/private/registry.log" 2>&1 &
private_pid=$!
wait_until 20 curl -sf -o /dev/null -u "$PRIV_USER:$PRIV_PASS" "http://127.0.0.1:$pport/v2/" ||
	{ log "private registry did not start:"; tail -n 20 "$tmp/private/registry.log" >&2; exit 1; }
auth_b64="$(printf '%s:%s' "$PRIV_USER" "$PRIV_PASS" | base64 -w0)"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$pport" "$auth_b64" >"$tmp/pushauth/config.json"
PRIVATE_IMAGE="127.0.0.1:$pport/private/busybox:1.0"
NOCREDS_IMAGE="localhost:$pport/private/busybox:1.0"
busybox_layout="$images/out/layouts/busybox"
DOCKER_CONFIG="$tmp/pushauth" "$crane" push --insecure "$busybox_layout" "$PRIVATE_IMAGE" >/dev/null
log "private registry on 127.0.0.1:$pport (pid $private_pid)"

# policy:1 starts as busybox (image A); the pull-policy scenario later
# replaces it with image B (same layers, one more label).
"$crane" push --insecure "$busybox_layout" "127.0.0.1:$port/krill-e2e/policy:1" >/dev/null
"$crane" push --insecure "$busybox_layout" "127.0.0.1:$port/krill-e2e/never:1" >/dev/null

# ---------------------------------------------------------------- krilld

bash "$images/mirrors.sh" "$tmp/certs.d" "$port"
for h in "127.0.0.1:$pport" "localhost:$pport"; do
	mkdir -p "$tmp/certs.d/$h"
	printf 'server = "http://%s"\n' "$h" >"$tmp/certs.d/$h/hosts.toml"
done

mkdir -p "$tmp/net.d"
cat >"$tmp/net.d/10-krillkt0.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "krill-e2e-kubelet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "${SUBNET_PREFIX}0/24" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$tmp/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
EOF

cat >"$tmp/krilld.toml" <<EOF
root = "$tmp/root"
state = "$tmp/state"
listen = "unix://$sock"
log_level = "info"
pause_image = "registry.k8s.io/pause:3.10"

[registry]
config_path = "$tmp/certs.d"

[cni]
conf_dir = "$tmp/net.d"
bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]
EOF
cp -f "$tmp/krilld.toml" "$out/"

"$KRILLD" --config "$tmp/krilld.toml" </dev/null >"$tmp/krilld.log" 2>&1 &
krilld_pid=$!
if ! wait_until 60 test -S "$sock" || ! kill -0 "$krilld_pid" 2>/dev/null; then
	log "krilld did not start:"
	tail -n 30 "$tmp/krilld.log" >&2
	exit 1
fi
log "krilld started (pid $krilld_pid)"

# ---------------------------------------------------------------- kubelet

kport="$(free_port)" roport="$(free_port)" hport="$(free_port)"
manifests="$tmp/manifests"
podlogs="$tmp/pod-logs"
mkdir -p "$manifests" "$tmp/staging" "$podlogs" "$tmp/volume-plugins" "$kroot"
make_cgroups
# Node credentials: kubelet reads a docker config.json in its root dir.
cp "$tmp/pushauth/config.json" "$kroot/config.json"
cat >"$tmp/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
staticPodPath: $manifests
cgroupDriver: cgroupfs
cgroupRoot: /$CGROOT
failSwapOn: false
failCgroupV1: false
oomScoreAdj: 0
maxOpenFiles: 20000
makeIPTablesUtilChains: false
podLogsDir: $podlogs
volumePluginDir: $tmp/volume-plugins
address: 127.0.0.1
port: $kport
readOnlyPort: $roport
healthzBindAddress: 127.0.0.1
healthzPort: $hport
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
serializeImagePulls: false
containerLogMaxSize: 8Ki
containerLogMaxFiles: 3
containerLogMonitorInterval: 3s
EOF
cp -f "$tmp/kubelet.yaml" "$out/"
"$KUBELET" --config "$tmp/kubelet.yaml" --root-dir "$kroot" --cert-dir "$kroot/pki" \
	--hostname-override "$NODE" --node-ip 127.0.0.1 --v=2 </dev/null >"$tmp/kubelet.log" 2>&1 &
kubelet_pid=$!
log "kubelet started (pid $kubelet_pid), API https://127.0.0.1:$kport, read-only :$roport, healthz :$hport"
KAPI="https://127.0.0.1:$kport"
if ! wait_until 90 curl -sf "http://127.0.0.1:$hport/healthz"; then
	log "kubelet not healthy after 90 s:"
	tail -n 30 "$tmp/kubelet.log" >&2
	exit 1
fi

# ---------------------------------------------------------------- helpers for scenarios

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1${2:+ ($2)}"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1: $2"; }

# drop NAME: the manifest on stdin becomes NAME.yaml in the static pod dir,
# atomically (kubelet must never read half a file).
drop() { cat >"$tmp/staging/$1.yaml"; mv -f "$tmp/staging/$1.yaml" "$manifests/$1.yaml"; }
undrop() { rm -f "$manifests/$1.yaml"; }

# pod NAME [CONTAINER-SPEC-YAML]: a pod manifest with the common fields.
# The containers part is read from stdin, already indented for "containers:".
pod() {
	local name="$1" extra="${2:-}"
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: default
spec:
  terminationGracePeriodSeconds: 1
$extra
  containers:
EOF
	cat
}

kpods() { curl -sf --max-time 5 "http://127.0.0.1:$roport/pods"; }
# podj NAME: kubelet's view of static pod NAME (JSON), "" if absent.
podj() { kpods | jq -c --arg n "$1-$NODE" '.items[] | select(.metadata.name == $n)'; }
# cst NAME CONTAINER: the container's status in kubelet's view.
cst() { podj "$1" | jq -c --arg c "$2" '.status.containerStatuses[]? | select(.name == $c)'; }
# q NAME CONTAINER JQ: one field of that status (jq -e: false/null fail).
q() { cst "$1" "$2" | jq -er "$3"; }
running() { q "$1" "$2" '.state.running != null' | grep -qx true; }
# ctr_id NAME CONTAINER: the runtime's ID of the running container.
ctr_id() { cri ps -q --state Running --name "^$2\$" --label "io.kubernetes.pod.name=$1-$NODE" | head -n1; }
# logfile NAME CONTAINER [ATTEMPT]: the CRI log file kubelet asked for.
logfile() { ls "$podlogs"/default_"$1-$NODE"_*/"$2/${3:-0}.log" 2>/dev/null | head -n1; }
# why NAME CONTAINER: the status kubelet reports, for a failure message.
why() { cst "$1" "$2" | jq -c '{state, lastState, restartCount, ready}' 2>/dev/null | head -c 400; }

# ---------------------------------------------------------------- latency

# One warm-up pod pulls the busybox and pause images, then five pods are
# timed from the manifest's rename to crictl seeing the container Running.
latency_pod() {
	pod "$1" <<EOF
  - name: lat
    image: $BUSYBOX
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
EOF
}

lat_ms=()
latency_pod warmup | drop warmup
if ! wait_until 120 running warmup lat; then
	fail "warm-up pod" "not running after 120 s: $(why warmup lat); pod: $(podj warmup | jq -c .status | head -c 400)"
else
	undrop warmup
	wait_until 30 bash -c "[[ -z \"\$($crictl --runtime-endpoint unix://$sock ps -q --label io.kubernetes.pod.name=warmup-$NODE)\" ]]" || true
	for i in 1 2 3 4 5; do
		latency_pod "latency-$i" >"$tmp/staging/latency-$i.yaml"
		t0=$(date +%s%N)
		mv -f "$tmp/staging/latency-$i.yaml" "$manifests/latency-$i.yaml"
		ok=""
		for _ in $(seq 1500); do
			if [[ -n "$(cri ps -q --state Running --label "io.kubernetes.pod.name=latency-$i-$NODE" 2>/dev/null)" ]]; then
				ok=1
				break
			fi
			sleep 0.02
		done
		t1=$(date +%s%N)
		[[ -n "$ok" ]] && lat_ms+=($(( (t1 - t0) / 1000000 )))
		undrop "latency-$i"
		wait_until 30 bash -c "[[ -z \"\$($crictl --runtime-endpoint unix://$sock ps -q --label io.kubernetes.pod.name=latency-$i-$NODE)\" ]]" || true
	done
	if [[ ${#lat_ms[@]} -eq 5 ]]; then
		median="$(printf '%s\n' "${lat_ms[@]}" | sort -n | sed -n 3p)"
		pass "latency: manifest -> container Running" "median ${median} ms of 5: ${lat_ms[*]} ms"
		echo "latency: manifest dropped -> container Running (crictl ps), median of 5: ${median} ms"
	else
		fail "latency: manifest -> container Running" "only ${#lat_ms[@]} of 5 pods ran within 30 s"
	fi
fi

# ---------------------------------------------------------------- drop the scenario pods

# Most scenarios only wait on their own pods, so they all start together.
