#!/bin/bash
# Guest job for test/vm/run.sh: RuntimeClass handlers on a pure cgroup v2
# node, where Debian's crun works (it refuses this repo's hybrid dev host).
# Run from the repo root, under the shared lock:
#   flock /tmp/krill-heavy.lock test/vm/run.sh test/vm/jobs/handlers.sh \
#       bin/krilld bin/krill-shim bin/krill-pause "$(go env GOPATH)/bin/crictl"
# No registry is needed: pods use the built-in pause image (the pull of
# registry.k8s.io fails offline) and the container runs that image too.
# Prints PASS/FAIL lines and last "vm-handlers: N passed, M failed".
set -u
share=/mnt/host
mkdir -p "$share/out"
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1${2:+ ($2)}"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1: $2"; }
sock=unix:///run/krillvm/krill.sock
cri() { "$share/crictl" --runtime-endpoint "$sock" --image-endpoint "$sock" --timeout 60s "$@"; }
finish() {
	cri rmp -fa >/dev/null 2>&1
	[[ -n "${kpid:-}" ]] && kill "$kpid" && wait "$kpid"
	cp /tmp/krilld.log "$share/out/" 2>/dev/null
	echo "vm-handlers: $passed passed, $failed failed"
	(( failed == 0 ))
	exit
}

cat >/tmp/krill.toml <<TOML
root = "/var/lib/krillvm"
state = "/run/krillvm"
listen = "$sock"
[runtime]
shim_path = "$share/krill-shim"
pause_binary = "$share/krill-pause"
[runtime.handlers.crun]
path = "crun"
type = "crun"
TOML
out="$("$share/krilld" check --config /tmp/krill.toml 2>&1)"
echo "$out" | sed 's/^/  check: /'
if grep -q 'handler crun.*crun version' <<<"$out" && ! grep -q 'crun cannot run containers' <<<"$out"; then
	pass "krilld check: crun usable on cgroup v2"
else
	fail "krilld check: crun usable on cgroup v2" "$(grep crun <<<"$out")"
fi

"$share/krilld" --config /tmp/krill.toml >/tmp/krilld.log 2>&1 &
kpid=$!
for i in $(seq 300); do cri version >/dev/null 2>&1 && break; sleep 0.2; done

pod_json() {
	cat <<JSON
{"metadata": {"name": "$1", "namespace": "default", "uid": "$1-uid", "attempt": 0}, "log_directory": "/tmp/logs-$1", "linux": {}}
JSON
}
pod_json crun >/tmp/pod-crun.json
pod_json dflt >/tmp/pod-dflt.json
pod_json kata >/tmp/pod-kata.json
cat >/tmp/ctr.json <<'JSON'
{"metadata": {"name": "c"}, "image": {"image": "registry.k8s.io/pause:3.10"}, "log_path": "c.log", "linux": {}}
JSON

if err="$(cri runp --runtime kata /tmp/pod-kata.json 2>&1)"; then
	fail "unknown handler refused" "kata pod ran"
elif grep -q 'NotFound' <<<"$err" && grep -q 'crun' <<<"$err"; then
	pass "unknown handler refused" "$(tail -n1 <<<"$err")"
else
	fail "unknown handler refused" "$err"
fi

for h in crun dflt; do
	rt=""; [[ $h == crun ]] && rt="--runtime crun"
	pod="" ctr=""
	if pod="$(cri runp $rt /tmp/pod-$h.json 2>/tmp/err)" && ctr="$(cri create "$pod" /tmp/ctr.json /tmp/pod-$h.json 2>/tmp/err)" &&
		cri start "$ctr" >/dev/null 2>/tmp/err; then
		root=/run/krillvm/runc; [[ $h == crun ]] && root=/run/krillvm/runtimes/crun
		state="$(cri inspect "$ctr" | grep -o '"state": "[A-Z_]*"' | head -n1)"
		if [[ -e "$root/$pod" && -e "$root/$ctr" && "$state" == *RUNNING* ]]; then
			pass "pod and container under handler $h" "both in $root, $state, runtimeHandler $(cri inspectp "$pod" | grep -o '"runtimeHandler": "[a-z]*"')"
		else
			fail "pod and container under handler $h" "root $root: $(ls "$root" 2>&1 | tr '\n' ' '); $state"
		fi
	else
		fail "pod and container under handler $h" "pod ${pod:-none}, container ${ctr:-none}: $(grep -v crictl.yaml /tmp/err)"
	fi
done
finish
