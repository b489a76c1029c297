#!/usr/bin/env bash
# Usage: verify.sh
#
# Checks that the built test images do what the critest specs need, without
# any CRI runtime: starts the local registry (serve.sh), pulls images back
# through it with crane, and runs their root filesystems with runc directly
# inside a network namespace this script creates (traffic stays on that
# namespace's loopback). Prints "ok: ..." per check, exits non-zero on the
# first failure, and removes its containers, netns, registry and temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
crane="${CRANE:-$here/bin/crane}"
tmp="$(mktemp -d /tmp/krill-images-verify.XXXXXX)"
netns="krill-imgverify-$$"
runc_root="$tmp/runc"
reg_pid=""
containers=()

cleanup() {
	set +e
	local c
	for c in "${containers[@]}"; do runc --root "$runc_root" delete --force "$c" >/dev/null 2>&1; done
	ip netns delete "$netns" 2>/dev/null
	[[ -z "$reg_pid" ]] || kill "$reg_pid" 2>/dev/null
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'echo "FAIL: verify.sh line $LINENO: $BASH_COMMAND" >&2' ERR

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

bash "$here/serve.sh" --state "$tmp" >/dev/null
reg_pid="$(cat "$tmp/registry.pid")"
reg="127.0.0.1:$(cat "$tmp/registry.port")"
ip netns add "$netns"
ip -n "$netns" link set lo up

# rootfs REF: pulls REF from the local registry and flattens it to a directory.
rootfs() {
	local dir="$tmp/rootfs-${1//[\/:]/_}"
	mkdir -p "$dir"
	"$crane" export --insecure "$reg/$1" - | tar -C "$dir" -xf -
	echo "$dir"
}

# The capabilities CRI runtimes give a container by default (nginx's master
# chowns its temp dirs, which runc's own default set would not allow).
cri_caps='["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]'

# bundle NAME ROOTFS UID NNP ARGS...: writes an OCI bundle that runs ARGS in
# ROOTFS as UID, in this script's netns.
bundle() {
	local name="$1" rootfs="$2" uid="$3" nnp="$4"; shift 4
	local b="$tmp/bundle-$name"
	mkdir -p "$b"
	(cd "$b" && runc spec)
	# Arguments one by one: jq would take an argument like "-c" for its own option.
	local args='[]' a
	for a in "$@"; do args="$(jq -c --arg a "$a" '. + [$a]' <<<"$args")"; done
	jq --arg root "$rootfs" --arg ns "/var/run/netns/$netns" --argjson uid "$uid" --argjson nnp "$nnp" \
		--argjson args "$args" --argjson caps "$cri_caps" '.root = {path: $root, readonly: false} | .process.terminal = false | .process.args = $args
		| .process.user = {uid: $uid, gid: $uid} | .process.noNewPrivileges = $nnp
		| .process.capabilities = ($caps | {bounding: ., effective: ., permitted: .})
		| .process.env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
		| .linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = $ns else . end]' \
		<"$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	echo "$b"
}

# run NAME ROOTFS UID NNP ARGS...: runs a container to completion, prints its output.
run() {
	local b
	b="$(bundle "$@")"
	containers+=("$1")
	runc --root "$runc_root" run --bundle "$b" "$1" </dev/null 2>&1 || { echo "(exit $?)"; true; }
}

# ---------------------------------------------------------------- busybox

bb="$(rootfs e2e-test-images/busybox:1.29-2)"
out="$(run bb-applets "$bb" 0 false sh -c 'for a in sh echo sleep top ls cat hostname mkdir mount touch grep seq sync ipcs id ping chmod netstat pgrep pidof dd; do command -v $a >/dev/null || echo missing $a; done; grep "^nobody:" /etc/passwd >/dev/null || echo no nobody; sleep infinity & p=$!; pgrep sleep >/dev/null || echo no pgrep; kill $p; ipcs >/dev/null || echo ipcs failed; echo done')"
[[ "$out" == "done" ]] || fail "busybox applets: $out"
ok "busybox: applets, nobody, sleep infinity, pgrep, ipcs"
# sh must exec /bin/ls rather than run the applet in-process: a non-executable
# /bin/ls (what a masked path looks like) must fail with busybox's message.
rm "$bb/bin/ls" && touch "$bb/bin/ls" && chmod 0644 "$bb/bin/ls"
out="$(run bb-ls "$bb" 0 false /bin/sh -c ls || true)"
[[ "$out" == *"/bin/sh: ls: Permission denied"* ]] || fail "busybox sh runs ls in-process: $out"
ok "busybox: sh execs /bin/ls ('$(head -n1 <<<"$out")')"

# ---------------------------------------------------------------- web servers

# serve NAME REF PORT CHECK: starts the image's default command detached and
# fetches / from inside the netns.
serve() {
	local name="$1" ref="$2" port="$3" rootfs cmd b i body
	rootfs="$(rootfs "$ref")"
	mapfile -t cmd < <("$crane" config --insecure "$reg/$ref" | jq -r '(.config.Entrypoint // []) + (.config.Cmd // []) | .[]')
	b="$(bundle "$name" "$rootfs" 0 false "${cmd[@]}")"
	containers+=("$name")
	runc --root "$runc_root" run --detach --bundle "$b" "$name" </dev/null >"$tmp/$name.log" 2>&1
	for i in $(seq 50); do
		if body="$(ip netns exec "$netns" curl -fsS --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null)"; then
			echo "$body"
			return 0
		fi
		sleep 0.1
	done
	cat "$tmp/$name.log" >&2
	return 1
}

body="$(serve nginx e2e-test-images/nginx:1.14-2 80)" || fail "nginx does not answer on :80"
[[ "$body" == *"Welcome to nginx"* ]] || fail "nginx page: $body"
out="$(runc --root "$runc_root" exec nginx sh -c 'cat /var/run/nginx.pid >/dev/null && tr "\0" " " </proc/1/cmdline && pidof nginx >/dev/null && echo && grep -c . /etc/passwd && sleep 0')"
[[ "$out" == *"master process"* ]] || fail "nginx pid 1 cmdline: $out"
ok "nginx: 200 on :80, /var/run/nginx.pid, pid 1 '$(head -n1 <<<"$out")'"
runc --root "$runc_root" delete --force nginx

body="$(serve hostnet-nginx k8s-staging-cri-tools/hostnet-nginx-amd64:latest 12003)" || fail "hostnet-nginx does not answer on :12003"
ok "hostnet-nginx: 200 on :12003"
runc --root "$runc_root" delete --force hostnet-nginx

body="$(serve httpd e2e-test-images/httpd:2.4.39-4 80)" || fail "httpd does not answer on :80"
grep -q httpd "$tmp/httpd.log" || fail "httpd log does not mention httpd: $(cat "$tmp/httpd.log")"
[[ "$(runc --root "$runc_root" exec httpd echo httpd)" == httpd ]] || fail "httpd: no echo"
ok "httpd: 200 on :80, log line '$(head -n1 "$tmp/httpd.log")'"
runc --root "$runc_root" delete --force httpd

# ---------------------------------------------------------------- nonewprivs, pause, users

nnp="$(rootfs e2e-test-images/nonewprivs:1.3)"
out="$(run nnp-false "$nnp" 1000 false /usr/local/bin/nonewprivs)"
[[ "$out" == "Effective uid: 0" ]] || fail "nonewprivs without NNP: $out"
out="$(run nnp-true "$nnp" 1000 true /usr/local/bin/nonewprivs)"
[[ "$out" == "Effective uid: 1000" ]] || fail "nonewprivs with NNP: $out"
ok "nonewprivs: 'Effective uid: 0' without, 'Effective uid: 1000' with no_new_privs"

p39="$("$crane" digest --insecure "$reg/pause:3.9")"
p310="$("$crane" digest --insecure "$reg/pause:3.10")"
c39="$("$crane" manifest --insecure "$reg/pause:3.9" | jq -r .config.digest)"
c310="$("$crane" manifest --insecure "$reg/pause:3.10" | jq -r .config.digest)"
[[ "$c39" != "$c310" ]] || fail "pause 3.9 and 3.10 share image ID $c39"
pause="$(rootfs pause:3.10)"
b="$(bundle pause "$pause" 65535 true /pause)"
containers+=(pause)
runc --root "$runc_root" run --detach --bundle "$b" pause </dev/null
sleep 0.3
[[ "$(runc --root "$runc_root" state pause | jq -r .status)" == running ]] || fail "pause exited"
runc --root "$runc_root" kill pause TERM
for i in $(seq 30); do [[ "$(runc --root "$runc_root" state pause | jq -r .status)" == stopped ]] && break; sleep 0.1; done
[[ "$(runc --root "$runc_root" state pause | jq -r .status)" == stopped ]] || fail "pause ignores SIGTERM"
ok "pause: 3.9 ($p39) and 3.10 ($p310) differ in image ID, runs until SIGTERM"

for r in test-image-user-uid:1002 test-image-user-username:www-data test-image-user-uid-group:1003:1004 \
	test-image-user-username-group:www-data:1004 test-image-predefined-group:1000; do
	img="${r%%:*}" want="${r#*:}"
	got="$("$crane" config --insecure "$reg/k8s-staging-cri-tools/$img" | jq -r .config.User)"
	[[ "$got" == "$want" ]] || fail "$img: USER $got, want $want"
done
ok "test-image-user-*: USER 1002, www-data, 1003:1004, www-data:1004"
pg="$(rootfs k8s-staging-cri-tools/test-image-predefined-group:latest)"
out="$(run groups "$pg" 0 false sh -c 'id -G default-user; grep ^default-user: /etc/passwd')"
[[ "$out" == $'1000 50000\ndefault-user:x:1000:1000::/home/default-user:/bin/sh' ]] || fail "predefined group: $out"
ok "test-image-predefined-group: default-user 1000, groups '$(head -n1 <<<"$out")'"

ids=""
for t in test-image-1 test-image-2 test-image-3; do
	ids+="$("$crane" manifest --insecure "$reg/k8s-staging-cri-tools/$t:latest" | jq -r .config.digest) "
done
[[ "$(tr ' ' '\n' <<<"$ids" | sed '/^$/d' | sort -u | wc -l)" == 3 ]] || fail "test-image-1/2/3 IDs not distinct: $ids"
ids=""
for t in 1 2 3; do
	ids+="$("$crane" manifest --insecure "$reg/k8s-staging-cri-tools/test-image-tags:$t" | jq -r .config.digest) "
done
[[ "$(tr ' ' '\n' <<<"$ids" | sed '/^$/d' | sort -u | wc -l)" == 1 ]] || fail "test-image-tags:1/2/3 IDs differ: $ids"
[[ "$("$crane" ls --insecure "$reg/k8s-staging-cri-tools/test-image-latest")" == latest ]] || fail "test-image-latest tags"
[[ "$("$crane" manifest --insecure "$reg/k8s-staging-cri-tools/hostnet-nginx-amd64" | jq -r .mediaType)" == \
	application/vnd.oci.image.manifest.v1+json ]] || fail "hostnet-nginx is not a single manifest"
ok "test-image-1/2/3: 3 IDs; test-image-tags:1/2/3: 1 ID; test-image-latest: only :latest"
echo "verify.sh: all image checks passed"
