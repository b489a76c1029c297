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
#
# Environment:
#   E2E_CGROUP_DRIVER  cgroupfs (default: cgroup root /krill-e2e-kubelet,
#                      failCgroupV1: false, as this cgroup v1 host needs) or
#                      systemd (kubelet's cgroup defaults, as kubeadm sets them:
#                      cgroupDriver: systemd, no cgroupRoot, no failCgroupV1;
#                      krilld gets [cgroup] driver = "systemd"). test/vm runs
#                      it inside a Debian 12 VM with systemd and cgroup v2.
#   E2E_WAIT_SCALE     multiplies every wait's bound (default 1; the VM: 4).
#   E2E_LATENCY_TIMEOUT  how long each timed pod may take to run (default
#                      30s; the VM under software emulation needs more).
#                      The latency is a measurement, reported; a pod that
#                      never runs in this time fails the check.
#   KRILL_E2E_PREBUILT=1  build nothing: kubelet, kexec, latency and crictl are
#                      already in test/kubelet/bin, crane and the images in
#                      test/images (the VM has no Go toolchain).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib.sh"
repo_root="$(cd "$here/../.." && pwd)"
images="$repo_root/test/images"

KRILLD="${KRILLD:-$repo_root/bin/krilld}"
KUBELET="$here/bin/kubelet"
KEXEC="$here/bin/kexec"
LATENCY="$here/bin/latency"
CRICTL_VERSION=v1.37.0
NODE=krill-e2e                 # --hostname-override: static pods are "<name>-krill-e2e"
CGROOT=krill-e2e-kubelet       # kubelet's cgroupRoot, in every v1 hierarchy (cgroupfs)
E2E_CGROUP_DRIVER="${E2E_CGROUP_DRIVER:-cgroupfs}"
E2E_LATENCY_TIMEOUT="${E2E_LATENCY_TIMEOUT:-30s}"
[[ "$E2E_CGROUP_DRIVER" == cgroupfs || "$E2E_CGROUP_DRIVER" == systemd ]] ||
	{ echo "run.sh: E2E_CGROUP_DRIVER must be cgroupfs or systemd" >&2; exit 2; }
BRIDGE=krillkt0
SUBNET_PREFIX=10.90.0.
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
POLICY_IMAGE=registry.k8s.io/krill-e2e/policy:1   # pushed twice with different content
NEVER_IMAGE=registry.k8s.io/krill-e2e/never:1     # in the registry, never pulled
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
bin="$here/bin"
out="$repo_root/test/out/kubelet"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
t_start=$(ms)
log() { printf 'run.sh: [%5.1fs] %s\n' "$(( $(ms) - t_start ))e-3" "$*" >&2; }

# One run at a time: the cgroup root, the bridge, the sysctls and
# /var/log/containers are host-wide. The lock fd is closed for every
# daemon started below, so a leftover process can never hold it.
exec 9>/tmp/krill-e2e-kubelet.lock
if ! flock -n 9; then
	log "another e2e-kubelet run holds /tmp/krill-e2e-kubelet.lock"
	exit 1
fi

# ---------------------------------------------------------------- prerequisites

t_build=$(ms)
if [[ -z "${KRILL_E2E_PREBUILT:-}" ]]; then
	bash "$here/build.sh" >&2
	(cd "$repo_root" && go build -o "$LATENCY" ./test/kubelet/latency)
	bash "$images/build.sh" >&2
fi
crane="$images/bin/crane"
crictl="$bin/crictl"
if [[ ! -x "$crictl" && -z "${KRILL_E2E_PREBUILT:-}" ]]; then
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
# krilld's state dir holds unix sockets at <state>/shims/<64-hex id>/*.sock,
# and a socket path must fit in 107 bytes: a short name under /run.
state="$(mktemp -d /run/krill-kt.XXXXXX)"
sock="$tmp/krill.sock"
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$sock" "$sock" >"$tmp/crictl.yaml"
kroot="$tmp/kubelet"
krilld_pid="" kubelet_pid="" registry_pid="" private_pid=""
varlog_existed=""
[[ -d /var/log/containers ]] && varlog_existed=1
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
		"$crictl" --config "$tmp/crictl.yaml" --timeout 60s rmp -fa >/dev/null
		stop_pid "$krilld_pid" krilld
	fi
	[[ -z "$registry_pid" ]] || stop_pid "$registry_pid" registry
	[[ -z "$private_pid" ]] || stop_pid "$private_pid" private-registry
	delete_runc_leftovers "$state"
	# kubelet bind-mounts its root dir onto itself: unmount_under covers it.
	unmount_under "$tmp"
	unmount_under "$state"
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
	[[ -n "$varlog_existed" ]] || rmdir /var/log/containers 2>/dev/null
	cp -f "$tmp/krilld.log" "$tmp/kubelet.log" "$out/" 2>/dev/null
	cp -f "$tmp/registry/registry.log" "$out/registry.log" 2>/dev/null
	cp -f "$tmp/private/registry.log" "$out/private-registry.log" 2>/dev/null
	rm -rf --one-file-system "$tmp" "$state"
	exit "$rc"
}



# cgroup_dirs: the cgroup hierarchies mounted under /sys/fs/cgroup (v1
# controllers, name=systemd, and the unified one).
cgroup_dirs() {
	awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | grep '^/sys/fs/cgroup' | sort -u
}

make_cgroups() {
	local d c
	# Pure cgroup v2 (the VM): kubelet wants cpu, cpuset, hugetlb, memory,
	# pids in its root's cgroup.controllers, so the root and the new cgroup
	# must hand every controller down (systemd enables only some at the root).
	if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
		mkdir -p "/sys/fs/cgroup/$CGROOT"
		for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
			echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
			echo "+$c" >"/sys/fs/cgroup/$CGROOT/cgroup.subtree_control"
		done
	fi
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


trap cleanup EXIT
trap 'exit 130' INT TERM

cri() { "$crictl" --config "$tmp/crictl.yaml" "$@"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS CMD...: polls CMD every 0.25 s until it succeeds.
# Every wait is E2E_WAIT_SCALE times as long (default 1): the VM's software
# emulation runs pods several times slower than a real node. These are
# bounds on waiting for a behaviour, not speed targets.
wait_until() {
	local deadline=$(( $(date +%s) + $1 * ${E2E_WAIT_SCALE:-1} )); shift
	until "$@" >/dev/null 2>&1; do
		(( $(date +%s) < deadline )) || return 1
		sleep 0.25
	done
}

# ---------------------------------------------------------------- registries

mkdir -p "$tmp/registry"
bash "$images/serve.sh" --no-build --state "$tmp/registry" >/dev/null 9>&-
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
docker-registry serve "$tmp/private/config.yml" </dev/null >"$tmp/private/registry.log" 2>&1 9>&- &
private_pid=$!
wait_until 20 curl -sf -o /dev/null -u "$PRIV_USER:$PRIV_PASS" "http://127.0.0.1:$pport/v2/" ||
	{ log "private registry did not start:"; tail -n 20 "$tmp/private/registry.log" >&2; exit 1; }
auth_b64="$(printf '%s:%s' "$PRIV_USER" "$PRIV_PASS" | base64 -w0)"
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}\n' "$pport" "$auth_b64" >"$tmp/pushauth/config.json"
PRIVATE_IMAGE="127.0.0.1:$pport/private/busybox:1.0"
NOCREDS_IMAGE="localhost:$pport/private/busybox:1.0"
busybox_layout="$images/out/layouts/busybox"
DOCKER_CONFIG="$tmp/pushauth" "$crane" push --insecure "$busybox_layout" "$PRIVATE_IMAGE" >/dev/null 2>>"$tmp/crane.log"
log "private registry on 127.0.0.1:$pport (pid $private_pid)"

# policy:1 starts as busybox (image A); the pull-policy scenario later
# replaces it with image B (same layers, one more label).
for r in policy:1 never:1; do
	"$crane" push --insecure "$busybox_layout" "127.0.0.1:$port/krill-e2e/$r" >/dev/null 2>>"$tmp/crane.log"
done

# ---------------------------------------------------------------- krilld

bash "$images/mirrors.sh" "$tmp/certs.d" "$port"
for h in "127.0.0.1:$pport" "localhost:$pport"; do
	mkdir -p "$tmp/certs.d/$h"
	printf 'server = "http://%s"\n' "$h" >"$tmp/certs.d/$h/hosts.toml"
done

write_cni_conflist "$tmp/net.d/10-krillkt0.conflist" krill-e2e-kubelet "$BRIDGE" "${SUBNET_PREFIX}0/24" "$tmp/cni-ipam"
write_krilld_config "$tmp/krilld.toml" "$tmp/root" "$state" "$sock" "$tmp/certs.d" "$tmp/net.d"
[[ "$E2E_CGROUP_DRIVER" == cgroupfs ]] || printf '\n[cgroup]\ndriver = "%s"\n' "$E2E_CGROUP_DRIVER" >>"$tmp/krilld.toml"
cp -f "$tmp/krilld.toml" "$out/"

"$KRILLD" --config "$tmp/krilld.toml" </dev/null >"$tmp/krilld.log" 2>&1 9>&- &
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
# kubelet's systemd driver makes its slices through systemd itself.
cgroup_settings="cgroupDriver: systemd"
if [[ "$E2E_CGROUP_DRIVER" == cgroupfs ]]; then
	make_cgroups
	cgroup_settings="$(printf 'cgroupDriver: cgroupfs\ncgroupRoot: /%s\nfailCgroupV1: false' "$CGROOT")"
fi
# Node credentials: kubelet reads a docker config.json in its root dir.
cp "$tmp/pushauth/config.json" "$kroot/config.json"
cat >"$tmp/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
staticPodPath: $manifests
$cgroup_settings
failSwapOn: false
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
	--hostname-override "$NODE" --v=2 </dev/null >"$tmp/kubelet.log" 2>&1 9>&- &
kubelet_pid=$!
log "kubelet started (pid $kubelet_pid), API https://127.0.0.1:$kport, read-only :$roport, healthz :$hport"
KAPI="https://127.0.0.1:$kport"
if ! wait_until 90 curl -sf "http://127.0.0.1:$hport/healthz"; then
	log "kubelet not healthy after 90 s:"
	tail -n 30 "$tmp/kubelet.log" >&2
	exit 1
fi

# ---------------------------------------------------------------- helpers for scenarios

# From here on a failed check is a FAIL line, never the end of the run.
set +e

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
# no_containers NAME: the runtime runs no container of pod NAME.
no_containers() { [[ -z "$(cri ps -q --label "io.kubernetes.pod.name=$1-$NODE")" ]]; }
# pod_stopped NAME: no running container of pod NAME and no ready sandbox
# (kubelet removes the dead containers and the sandbox later, in its GC).
pod_stopped() {
	no_containers "$1" &&
		[[ -z "$(cri pods -q --state ready --label "io.kubernetes.pod.name=$1-$NODE")" ]]
}
# why NAME CONTAINER: the status kubelet reports, for a failure message.
why() { cst "$1" "$2" | jq -c '{state, lastState, restartCount, ready}' 2>/dev/null | head -c 400; }

# ---------------------------------------------------------------- latency

# One warm-up pod pulls the busybox and pause images, then five pods are
# timed from the manifest's rename to crictl seeing the container Running.
# Each pod is stopped before the next one is dropped, and a second passes,
# so that little teardown work competes with the measured start.
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
	wait_until 30 pod_stopped warmup || true
	sleep 1
	for i in 1 2 3 4 5; do
		latency_pod "latency-$i" >"$tmp/staging/latency-$i.yaml"
		# The helper moves the manifest into place and polls the runtime
		# over one connection (crictl in a loop would load the CPUs).
		if got="$("$LATENCY" "$sock" "$tmp/staging/latency-$i.yaml" "$manifests/latency-$i.yaml" "latency-$i-$NODE" "$E2E_LATENCY_TIMEOUT")"; then
			lat_ms+=("$got")
		fi
		undrop "latency-$i"
		wait_until 30 pod_stopped "latency-$i" || true
		sleep 1
	done
	if [[ ${#lat_ms[@]} -eq 5 ]]; then
		median="$(printf '%s\n' "${lat_ms[@]}" | sort -n | sed -n 3p)"
		pass "latency: manifest -> container Running" "median ${median} ms of 5: ${lat_ms[*]} ms"
		echo "latency: manifest dropped -> container Running (CRI ListContainers), median of 5: ${median} ms"
	else
		fail "latency: manifest -> container Running" "only ${#lat_ms[@]} of 5 pods ran within $E2E_LATENCY_TIMEOUT"
	fi
fi

# ---------------------------------------------------------------- drop the scenario pods

# Most scenarios only wait on their own pods, so they all start together.
# The private-image and pull-policy scenarios change registry and image
# store state, so they run last, one step at a time.

EMPTYDIR_MSG="written-by-writer-$RANDOM"
LOOP="trap 'exit 0' TERM; while :; do sleep 1; done"

pod localhost <<EOF | drop localhost
  - name: server
    image: $BUSYBOX
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-server >/www/index.html && exec httpd -f -p 8080 -h /www"]
  - name: client
    image: $BUSYBOX
    command: ["sh", "-c", "while :; do echo \"got: \$(timeout 2 wget -q -O - http://127.0.0.1:8080/index.html)\"; sleep 1; done"]
EOF

pod emptydir "  volumes:
  - name: shared
    emptyDir: {}" <<EOF | drop emptydir
  - name: writer
    image: $BUSYBOX
    command: ["sh", "-c", "echo $EMPTYDIR_MSG >/data/msg.tmp && mv /data/msg.tmp /data/msg && $LOOP"]
    volumeMounts: [{name: shared, mountPath: /data}]
  - name: reader
    image: $BUSYBOX
    command: ["sh", "-c", "until [ -f /shared/msg ]; do sleep 0.2; done; echo \"read: \$(cat /shared/msg)\"; $LOOP"]
    volumeMounts: [{name: shared, mountPath: /shared}]
EOF

pod resources <<EOF | drop resources
  - name: c
    image: $BUSYBOX
    command: ["sh", "-c", "$LOOP"]
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
EOF

for policy in Always OnFailure Never; do
	for code in 0 1; do
		name="restart-$(tr 'A-Z' 'a-z' <<<"$policy")-$code"
		pod "$name" "  restartPolicy: $policy" <<EOF | drop "$name"
  - name: c
    image: $BUSYBOX
    command: ["sh", "-c", "sleep 1; exit $code"]
EOF
	done
done

pod liveness <<EOF | drop liveness
  - name: c
    image: $BUSYBOX
    command: ["sh", "-c", "touch /tmp/healthy; sleep 4; rm -f /tmp/healthy; sleep 3600"]
    livenessProbe:
      exec: {command: ["cat", "/tmp/healthy"]}
      periodSeconds: 1
      failureThreshold: 2
EOF

web() { echo "[\"sh\", \"-c\", \"mkdir -p /www && echo ok >/www/index.html && exec httpd -f -p $1 -h /www\"]"; }
pod probes <<EOF | drop probes
  - name: http
    image: $BUSYBOX
    command: $(web 8080)
    readinessProbe:
      httpGet: {path: /index.html, port: 8080}
      periodSeconds: 1
  - name: tcp
    image: $BUSYBOX
    command: $(web 9090)
    readinessProbe:
      tcpSocket: {port: 9090}
      periodSeconds: 1
    # kubelet probes as soon as StartContainer returns, before the shell
    # has exec'd httpd: a low threshold would race the bind and restart
    # (3 did under the VM's software emulation, where httpd took longer).
    livenessProbe:
      tcpSocket: {port: 9090}
      periodSeconds: 1
      failureThreshold: 15
EOF
# Negative twins: an HTTP probe answered 404, a TCP probe to a closed port.
pod probes-fail <<EOF | drop probes-fail
  - name: http
    image: $BUSYBOX
    command: $(web 8080)
    readinessProbe:
      httpGet: {path: /missing, port: 8080}
      periodSeconds: 1
  - name: tcp
    image: $BUSYBOX
    command: $(web 9090)
    readinessProbe:
      tcpSocket: {port: 9091}
      periodSeconds: 1
EOF

pod logs <<EOF | drop logs
  - name: main
    image: $BUSYBOX
    command: ["sh", "-c", "for i in 1 2 3 4 5; do echo log-line-\$i; done; echo err-line >&2; $LOOP"]
EOF

# ~5 KB/s of numbered lines against containerLogMaxSize 8Ki and a 3 s
# monitor interval: kubelet rotates every few seconds.
pod logrotate <<EOF | drop logrotate
  - name: writer
    image: $BUSYBOX
    command: ["sh", "-c", "trap 'exit 0' TERM; p=\$(printf '%080d' 0); i=0; while :; do i=\$((i+1)); echo rot-line-\$i \$p; sleep 0.02; done"]
EOF

# ---------------------------------------------------------------- checks

if curl -sf "http://127.0.0.1:$hport/healthz" | grep -qx ok && curl -skf "$KAPI/healthz" | grep -qx ok; then
	pass "kubelet healthz" "read-only and authenticated ports"
else
	fail "kubelet healthz" "not ok"
fi

# -- two containers, one network namespace
client_got() { grep -q 'got: hello-from-server' "$(logfile localhost client)"; }
if wait_until 60 client_got; then
	pass "two containers over localhost" "client fetched server's page from 127.0.0.1:8080"
else
	fail "two containers over localhost" "client log has no 'got: hello-from-server'; server: $(why localhost server); client: $(why localhost client); log: $(tail -n 2 "$(logfile localhost client)" 2>/dev/null)"
fi

# -- emptyDir shared by two containers
reader_has_msg() { grep -q "read: $EMPTYDIR_MSG" "$(logfile emptydir reader)"; }
if wait_until 60 reader_has_msg; then
	hostfile="$(ls "$kroot"/pods/*/volumes/kubernetes.io~empty-dir/shared/msg 2>/dev/null | head -n1)"
	if [[ -n "$hostfile" ]] && grep -qx "$EMPTYDIR_MSG" "$hostfile"; then
		pass "emptyDir shared" "reader read writer's file; it lives in kubelet's emptyDir on the host"
	else
		fail "emptyDir shared" "reader saw the message but no msg file under $kroot/pods/*/volumes/kubernetes.io~empty-dir/shared"
	fi
else
	fail "emptyDir shared" "reader never printed the message: writer $(why emptydir writer); reader $(why emptydir reader)"
fi

# -- requests/limits in the cgroup files
# pod_cgroup_ok PATH: the container's cgroup sits under its burstable pod
# cgroup, named the way the cgroup driver in use names it.
pod_cgroup_ok() {
	if [[ "$E2E_CGROUP_DRIVER" == systemd ]]; then
		[[ "$1" == /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod*.slice/* ]]
	else
		[[ "$1" == "/$CGROOT/kubepods/burstable/pod"*/* ]]
	fi
}
check_resources() {
	local id pid path mem quota period shares
	wait_until 60 running resources c || { echo "container not running: $(why resources c)"; return 1; }
	id="$(ctr_id resources c)"
	pid="$(cri inspect "$id" | jq -r '.info.pid // empty')"
	[[ "$pid" =~ ^[1-9][0-9]*$ ]] || { echo "crictl inspect $id gives no pid"; return 1; }
	if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
		check_resources_v2 "$pid"
		return
	fi
	path="$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")"
	pod_cgroup_ok "$path" || { echo "container's memory cgroup $path is not under its burstable pod cgroup"; return 1; }
	mem="$(cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes")"
	quota="$(cat "/sys/fs/cgroup/cpu$path/cpu.cfs_quota_us" 2>/dev/null || cat "/sys/fs/cgroup/cpu,cpuacct$path/cpu.cfs_quota_us")"
	period="$(cat "/sys/fs/cgroup/cpu$path/cpu.cfs_period_us" 2>/dev/null || cat "/sys/fs/cgroup/cpu,cpuacct$path/cpu.cfs_period_us")"
	shares="$(cat "/sys/fs/cgroup/cpu$path/cpu.shares" 2>/dev/null || cat "/sys/fs/cgroup/cpu,cpuacct$path/cpu.shares")"
	[[ "$mem" == 134217728 && "$quota" == 50000 && "$period" == 100000 && "$shares" == 256 ]] ||
		{ echo "$path: memory.limit_in_bytes=$mem (want 134217728) cfs_quota=$quota (50000) cfs_period=$period (100000) shares=$shares (256)"; return 1; }
	echo "$path: memory 134217728, cfs 50000/100000, shares 256"
}
# check_resources_v2 PID: the same limits in cgroup v2 files. cpu.weight is
# the shares (256) as runc 1.1 converts them: 1 + (shares-2)*9999/262142.
check_resources_v2() {
	local path mem max weight want_weight=$((1 + (256 - 2) * 9999 / 262142))
	path="$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")"
	pod_cgroup_ok "$path" || { echo "container's cgroup $path is not under its burstable pod cgroup"; return 1; }
	mem="$(cat "/sys/fs/cgroup$path/memory.max")"
	max="$(cat "/sys/fs/cgroup$path/cpu.max")"
	weight="$(cat "/sys/fs/cgroup$path/cpu.weight")"
	[[ "$mem" == 134217728 && "$max" == "50000 100000" && "$weight" == "$want_weight" ]] ||
		{ echo "$path: memory.max=$mem (want 134217728) cpu.max=$max (50000 100000) cpu.weight=$weight ($want_weight)"; return 1; }
	echo "$path: memory.max 134217728, cpu.max 50000 100000, cpu.weight $weight"
}
if msg="$(check_resources)"; then pass "requests/limits in cgroups" "$msg"; else fail "requests/limits in cgroups" "$msg"; fi

# -- logs and exec
if wait_until 60 running logs main && wait_until 10 grep -q 'stderr F err-line' "$(logfile logs main)"; then
	f="$(logfile logs main)"
	if grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+) stdout F log-line-3$' "$f" &&
		[[ "$(grep -c ' stdout F log-line-' "$f")" == 5 ]]; then
		pass "logs: CRI log file" "${f#"$tmp"/} has 5 stdout lines and the stderr line in CRI format"
	else
		fail "logs: CRI log file" "unexpected content of $f: $(head -c 300 "$f")"
	fi
	got="$(curl -skf "$KAPI/containerLogs/default/logs-$NODE/main" || true)"
	if [[ "$(grep -c '^log-line-[1-5]$' <<<"$got")" == 5 ]] && grep -qx err-line <<<"$got"; then
		pass "logs: kubelet /containerLogs" "kubelet read the runtime's log file back"
	else
		fail "logs: kubelet /containerLogs" "got: $(head -c 300 <<<"$got")"
	fi
	got="$(curl -skf -X POST "$KAPI/run/default/logs-$NODE/main?cmd=hostname" || true)"
	if [[ "$got" == "logs-$NODE" ]]; then
		pass "exec: kubelet /run (ExecSync)" "hostname in the pod = $got"
	else
		fail "exec: kubelet /run (ExecSync)" "want logs-$NODE, got '$(head -c 300 <<<"$got")'; kubelet: $(grep -i 'run\|exec' "$tmp/kubelet.log" | tail -n 2)"
	fi
	got="$("$KEXEC" "$KAPI" default "logs-$NODE" main sh -c 'echo out-$((6*7)); echo err-x >&2; exit 3' 2>"$tmp/kexec.err")"
	rc=$?
	if [[ "$got" == out-42 && "$rc" == 3 ]] && grep -qx err-x "$tmp/kexec.err"; then
		pass "exec: kubelet /exec (streaming CRI Exec)" "stdout, stderr and exit code 3 came back through kubelet"
	else
		fail "exec: kubelet /exec (streaming CRI Exec)" "stdout '$got', exit $rc (want out-42, 3); stderr: $(head -c 300 "$tmp/kexec.err")"
	fi
	got="$(cri exec "$(ctr_id logs main)" sh -c 'echo $((6*7))' 2>&1 || true)"
	if [[ "$got" == 42 ]]; then
		pass "exec: crictl exec" "42"
	else
		fail "exec: crictl exec" "got '$(head -c 300 <<<"$got")'"
	fi
else
	fail "logs: CRI log file" "logs pod not running or no stderr line: $(why logs main)"
fi

# -- probes
probe_count() { # POD CONTAINER TYPE RESULT: kubelet's prober_probe_total
	curl -sf "http://127.0.0.1:$roport/metrics/probes" |
		awk -v p="pod=\"$1-$NODE\"" -v c="container=\"$2\"" -v t="probe_type=\"$3\"" -v r="result=\"$4\"" \
			'index($0, p) && index($0, c) && index($0, t) && index($0, r) { n += $NF } END { print n + 0 }'
}
both_ready() { q probes http .ready | grep -qx true && q probes tcp .ready | grep -qx true; }
if wait_until 60 both_ready; then
	podready="$(podj probes | jq -r '.status.conditions[]? | select(.type == "Ready") | .status')"
	restarts="$(podj probes | jq '[.status.containerStatuses[].restartCount] | add')"
	if [[ "$podready" == True && "$restarts" == 0 && "$(probe_count probes tcp Liveness successful)" -gt 0 ]]; then
		pass "probes: HTTP and TCP readiness, TCP liveness" "both containers Ready, pod Ready, no restarts"
	else
		fail "probes: HTTP and TCP readiness, TCP liveness" "pod Ready=$podready restarts=$restarts liveness successes=$(probe_count probes tcp Liveness successful)"
	fi
else
	fail "probes: HTTP and TCP readiness, TCP liveness" "not ready within 60 s: http $(why probes http); tcp $(why probes tcp)"
fi
failing_probed() { (( $(probe_count probes-fail http Readiness failed) >= 3 && $(probe_count probes-fail tcp Readiness failed) >= 3 )); }
if wait_until 60 failing_probed; then
	hr="$(q probes-fail http .ready || true)" tr="$(q probes-fail tcp .ready || true)"
	if [[ "$hr" == false && "$tr" == false ]] && running probes-fail http && running probes-fail tcp; then
		pass "probes: failing HTTP (404) and TCP (closed port) readiness" "both running and not Ready"
	else
		fail "probes: failing HTTP (404) and TCP (closed port) readiness" "http ready=$hr tcp ready=$tr: $(why probes-fail http)"
	fi
else
	fail "probes: failing HTTP (404) and TCP (closed port) readiness" "probes never failed 3 times: http $(why probes-fail http); tcp $(why probes-fail tcp)"
fi

# -- exec liveness probe failing
live_restarted() { (( $(q liveness c .restartCount) >= 1 )); }
if wait_until 60 live_restarted; then
	pass "exec liveness probe failing -> restart" "restartCount $(q liveness c .restartCount), last exit $(q liveness c '.lastState.terminated.exitCode' || echo '?'), $(probe_count liveness c Liveness failed) failed probes"
else
	fail "exec liveness probe failing -> restart" "no restart in 60 s: $(why liveness c); failed probes: $(probe_count liveness c Liveness failed)"
fi

# -- restart policies
# Pods that must restart first; once they have, enough time has passed for
# the others to have restarted too, had they been (wrongly) restarted.
restarted() { (( $(q "$1" c .restartCount) >= 1 )); }
for name in restart-always-0 restart-always-1 restart-onfailure-1; do
	want_code="${name##*-}"
	if wait_until 60 restarted "$name"; then
		last="$(cst "$name" c | jq -c '.lastState.terminated | {exitCode, reason}')"
		if [[ "$(jq -r .exitCode <<<"$last")" == "$want_code" ]]; then
			pass "restartPolicy: $name" "restarted (count $(q "$name" c .restartCount)), last state $last"
		else
			fail "restartPolicy: $name" "restarted, but last state $last (want exit code $want_code)"
		fi
	else
		fail "restartPolicy: $name" "no restart within 60 s: $(why "$name" c)"
	fi
done
terminal() { [[ "$(podj "$1" | jq -r .status.phase)" == "$2" ]]; }
for spec in "restart-onfailure-0 Succeeded 0 Completed" "restart-never-0 Succeeded 0 Completed" "restart-never-1 Failed 1 Error"; do
	read -r name phase code reason <<<"$spec"
	if ! wait_until 60 terminal "$name" "$phase"; then
		fail "restartPolicy: $name" "phase $(podj "$name" | jq -r .status.phase) (want $phase): $(why "$name" c)"
		continue
	fi
	st="$(cst "$name" c | jq -c '{restartCount, exitCode: .state.terminated.exitCode, reason: .state.terminated.reason}')"
	n_ctr="$(cri ps -a -q --label "io.kubernetes.pod.name=$name-$NODE" | wc -l)"
	if [[ "$st" == "{\"restartCount\":0,\"exitCode\":$code,\"reason\":\"$reason\"}" && "$n_ctr" == 1 ]]; then
		pass "restartPolicy: $name" "phase $phase, $st, one container in the runtime"
	else
		fail "restartPolicy: $name" "phase $phase but $st and $n_ctr containers in the runtime (want restartCount 0, exit $code, reason $reason, 1 container)"
	fi
done

# -- log rotation
rotated_files() { ls "$podlogs"/default_logrotate-"$NODE"_*/writer/0.log.* 2>/dev/null; }
two_rotations() { [[ "$(rotated_files | wc -l)" -ge 2 ]]; }
# line_numbers: every rot-line number in the current and rotated files.
line_numbers() { zcat -f "$podlogs"/default_logrotate-"$NODE"_*/writer/0.log* 2>/dev/null | sed -n 's/.* stdout F rot-line-\([0-9]*\) .*/\1/p' | sort -n; }
current_max() { sed -n 's/.* stdout F rot-line-\([0-9]*\) .*/\1/p' "$(logfile logrotate writer)" | sort -n | tail -n1; }
check_rotation() {
	wait_until 60 two_rotations || { echo "fewer than 2 rotated files after 60 s: $(rotated_files | xargs -rn1 basename | tr '\n' ' ') $(why logrotate writer)"; return 1; }
	local m1 m2 nums first last count dups
	m1="$(current_max)"
	sleep 2
	m2="$(current_max)"
	[[ -n "$m1" && -n "$m2" ]] && (( m2 > m1 )) || { echo "0.log stopped growing after rotation (max line $m1 then $m2)"; return 1; }
	# Nothing lost or doubled across the files kept: the numbers are one
	# contiguous run (the oldest files were deleted by kubelet).
	nums="$(line_numbers)"
	first="$(head -n1 <<<"$nums")" last="$(tail -n1 <<<"$nums")" count="$(wc -l <<<"$nums")"
	dups="$(uniq -d <<<"$nums" | wc -l)"
	(( count == last - first + 1 && dups == 0 )) || { echo "lines $first..$last: $count present, $dups doubled"; return 1; }
	echo "$(rotated_files | wc -l) rotated files kept, lines $first..$last contiguous, 0.log still growing"
}
# kubelet may be renaming or compressing a file while it is read: a
# mismatch is only believed when it persists over three reads.
if msg="$(check_rotation)" || { sleep 1; msg="$(check_rotation)"; } || { sleep 1; msg="$(check_rotation)"; }; then
	pass "log rotation (ReopenContainerLog)" "$msg"
else
	fail "log rotation (ReopenContainerLog)" "$msg; krilld: $(grep -i reopen "$tmp/krilld.log" | tail -n 2)"
fi

# -- private image: node credentials
pod private-ok <<EOF | drop private-ok
  - name: c
    image: $PRIVATE_IMAGE
    imagePullPolicy: Always
    command: ["sh", "-c", "$LOOP"]
EOF
pod private-nocreds <<EOF | drop private-nocreds
  - name: c
    image: $NOCREDS_IMAGE
    imagePullPolicy: Always
    command: ["sh", "-c", "$LOOP"]
EOF
if wait_until 90 running private-ok c; then
	pass "private image with node credentials" "$PRIVATE_IMAGE pulled with $kroot/config.json"
else
	fail "private image with node credentials" "$(why private-ok c); krilld: $(grep -F "private/busybox" "$tmp/krilld.log" | tail -n 2)"
fi
pull_refused() { q private-nocreds c '.state.waiting.reason' | grep -Eqx 'ErrImagePull|ImagePullBackOff'; }
if wait_until 60 pull_refused; then
	msg="$(q private-nocreds c '.state.waiting.message' 2>/dev/null | head -c 200 || true)"
	if cri images -q "$NOCREDS_IMAGE" 2>/dev/null | grep -q .; then
		fail "private image refused without credentials" "pull failed but the image is in the store"
	elif cri pull "$PRIVATE_IMAGE" >/dev/null 2>&1; then
		fail "private image refused without credentials" "crictl pull $PRIVATE_IMAGE without --creds succeeded"
	else
		pass "private image refused without credentials" "$NOCREDS_IMAGE: $(q private-nocreds c .state.waiting.reason): $msg; crictl pull without creds refused"
	fi
else
	fail "private image refused without credentials" "$(why private-nocreds c)"
fi
undrop private-ok
undrop private-nocreds

# -- imagePullPolicy
policy_id() { cri inspecti "$POLICY_IMAGE" 2>/dev/null | jq -r '.status.id // empty'; }
# policy_pod NAME IMAGE POLICY: drops a one-container pod running $LOOP
# from IMAGE with that imagePullPolicy.
policy_pod() {
	pod "$1" <<EOF | drop "$1"
  - name: c
    image: $2
    imagePullPolicy: $3
    command: ["sh", "-c", "$LOOP"]
EOF
}

check_policy() {
	local idA idB idNow
	policy_pod policy-a "$POLICY_IMAGE" IfNotPresent
	wait_until 90 running policy-a c || { echo "policy-a (IfNotPresent, first pull) not running: $(why policy-a c)"; return 1; }
	idA="$(policy_id)"
	[[ -n "$idA" ]] || { echo "no image $POLICY_IMAGE in the runtime after policy-a ran"; return 1; }
	# Same tag, new content: image B.
	"$crane" mutate --insecure --label krill-e2e=b -t "127.0.0.1:$port/krill-e2e/policy:1" \
		"127.0.0.1:$port/krill-e2e/policy:1" >/dev/null 2>>"$tmp/crane.log"
	idB="$("$crane" manifest --insecure "127.0.0.1:$port/krill-e2e/policy:1" | jq -r .config.digest)"
	[[ "$idB" != "$idA" ]] || { echo "registry image did not change ($idA)"; return 1; }

	policy_pod policy-ifnotpresent "$POLICY_IMAGE" IfNotPresent
	wait_until 60 running policy-ifnotpresent c || { echo "IfNotPresent pod not running: $(why policy-ifnotpresent c)"; return 1; }
	idNow="$(policy_id)"
	[[ "$idNow" == "$idA" ]] || { echo "IfNotPresent pulled again: image is $idNow, was $idA"; return 1; }

	policy_pod policy-always "$POLICY_IMAGE" Always
	wait_until 60 running policy-always c || { echo "Always pod not running: $(why policy-always c)"; return 1; }
	idNow="$(policy_id)"
	[[ "$idNow" == "$idB" ]] || { echo "Always did not pull the new image: image is $idNow, registry has $idB"; return 1; }
	local ia ii
	ia="$(q policy-always c .imageID)" ii="$(q policy-ifnotpresent c .imageID)"
	[[ "$ia" != "$ii" ]] || { echo "Always and IfNotPresent containers report the same imageID $ia"; return 1; }

	policy_pod policy-never-present "$POLICY_IMAGE" Never
	policy_pod policy-never-missing "$NEVER_IMAGE" Never
	wait_until 60 running policy-never-present c || { echo "Never with the image present: not running: $(why policy-never-present c)"; return 1; }
	never_refused() { q policy-never-missing c '.state.waiting.reason' | grep -qx ErrImageNeverPull; }
	wait_until 60 never_refused || { echo "Never with the image missing: $(why policy-never-missing c) (want ErrImageNeverPull)"; return 1; }
	! cri images -q "$NEVER_IMAGE" 2>/dev/null | grep -q . || { echo "$NEVER_IMAGE was pulled despite Never"; return 1; }
	echo "IfNotPresent kept ${idA:7:12}, Always pulled ${idB:7:12}, Never ran the present image and refused the missing one (ErrImageNeverPull)"
}
if msg="$(check_policy)"; then pass "imagePullPolicy Always/IfNotPresent/Never" "$msg"; else fail "imagePullPolicy Always/IfNotPresent/Never" "$msg"; fi

# ---------------------------------------------------------------- summary

if ! kill -0 "$krilld_pid" 2>/dev/null; then fail "krilld alive at the end" "krilld exited: $(tail -n 3 "$tmp/krilld.log")"; fi
if ! kill -0 "$kubelet_pid" 2>/dev/null; then fail "kubelet alive at the end" "kubelet exited: $(tail -n 3 "$tmp/kubelet.log")"; fi
cp -f "$tmp/krilld.log" "$tmp/kubelet.log" "$out/" 2>/dev/null || true
echo "e2e-kubelet: $passed passed, $failed failed"
[[ "$failed" == 0 ]]
