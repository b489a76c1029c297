#!/usr/bin/env bash
# Usage: test/vm/run.sh [--forward GUESTPORT:HOSTPORT]... [--timeout SECONDS]
#                       [--out DIR] JOB_SCRIPT [FILE|DIR...]
#
# Runs JOB_SCRIPT as root inside a fresh Debian 12 VM (systemd 252 as PID 1,
# pure cgroup v2, kernel 6.1 with AppArmor, runc and crun from Debian) and
# exits with its exit code. Boot the VM only under the shared lock:
#   flock /tmp/krill-heavy.lock test/vm/run.sh job.sh bin/krilld bin/krill-shim
#
#   - The image is built and cached by build-image.sh (first use: a few
#     minutes); every run boots a new qcow2 overlay over it, so each run
#     starts from the same clean disk and leaves the image untouched.
#   - JOB_SCRIPT is copied to job-main.sh, each FILE or DIR by its base name, into
#     a fresh directory shared with the guest as /mnt/host (9p). The job runs
#     there (its cwd) with /mnt/host first in PATH, after the guest brought
#     its network up (its NIC at 10.0.2.15/24) and loaded overlay, br_netfilter,
#     veth and bridge. Whatever it writes under /mnt/host/out/ comes back
#     into --out DIR, with job.out (its output) and console.log (the serial
#     console).
#   - The job's output is printed as it runs, then "vm: job exit N, Ms".
#   - --forward G:H makes 10.0.2.100:G in the guest reach 127.0.0.1:H on the
#     host (one socat per connection). That is the guest's only way out: the
#     user network is restrict=on, and only the host's loopback is ever a
#     target.
#   - The VM always powers off: the guest does after the job, and QEMU is
#     killed by its PID after --timeout (default 1800 s) or when this script
#     exits early. Exit code: the job's; 124 on timeout; 125 when the VM never
#     reported one (then the console's tail is printed).
# QEMU runs with software emulation (TCG): the host's /dev/kvm hangs a
# Debian kernel at boot (this machine is itself a VM); see ../shared/notes/vm.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
timeout_s=1800
out_dir=""
forwards=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--forward) forwards+=("$2"); shift 2 ;;
	--timeout) timeout_s="$2"; shift 2 ;;
	--out) out_dir="$2"; shift 2 ;;
	-h|--help) sed -n '2,32p' "$0"; exit 0 ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[[ $# -ge 1 && -f "$1" ]] || { echo "usage: run.sh [options] JOB_SCRIPT [FILE|DIR...] (see --help)" >&2; exit 2; }
job="$1"; shift
log() { echo "vm: $*" >&2; }

img="$(bash "$here/build-image.sh")"

tmp="$(mktemp -d /tmp/krill-vm.XXXXXX)"
share="$tmp/share"
mkdir -p "$share/out"
qemu_pid=""
tail_pid=""
cleanup() {
	local rc=$?
	set +e
	if [[ -n "$qemu_pid" ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -TERM "$qemu_pid"; sleep 1; kill -KILL "$qemu_pid" 2>/dev/null
		wait "$qemu_pid" 2>/dev/null
	fi
	[[ -z "$tail_pid" ]] || kill "$tail_pid" 2>/dev/null
	if [[ -n "$out_dir" ]]; then
		mkdir -p "$out_dir"
		cp -rf "$share/out/." "$share/job.out" "$tmp/console.log" "$out_dir/" 2>/dev/null
	fi
	rm -rf --one-file-system "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The guest runs /mnt/host/job.sh. It is this wrapper, which brings the
# network up before the caller's job (job-main.sh). The image's own step
# (guest/krill-vm-job) names the NIC ens3 and runs right after
# network.target, which does not wait for udev: on a slow boot the NIC is
# still unprobed or not yet renamed, and the job found no route to
# 10.0.2.100. The wrapper waits for udev and takes whichever NIC exists.
# (It lives here rather than in the image so that fixing it does not rebuild
# the cached image.)
cat >"$share/job.sh" <<'WRAPPER'
#!/bin/bash
nic=""
udevadm settle --timeout=30 2>/dev/null
for _ in $(seq 1 120); do
	for d in /sys/class/net/*; do
		[[ -e "$d/device" ]] && { nic="${d##*/}"; break; }
	done
	[[ -n "$nic" ]] && break
	sleep 0.5
done
if [[ -z "$nic" ]]; then
	echo "vm: no network interface appeared in 60 s" >&2
	exit 125
fi
ip link set "$nic" up && ip addr replace 10.0.2.15/24 dev "$nic" || exit 125
exec bash ./job-main.sh
WRAPPER
chmod 0755 "$share/job.sh"
install -m 0755 "$job" "$share/job-main.sh"
for f in "$@"; do cp -a "$f" "$share/"; done
qemu-img create -q -f qcow2 -F raw -b "$img/disk.img" "$tmp/disk.qcow2"

nic="user,restrict=on"
for f in "${forwards[@]}"; do
	[[ "$f" =~ ^([0-9]+):([0-9]+)$ ]] || { log "bad --forward $f (want GUESTPORT:HOSTPORT)"; exit 2; }
	nic+=",guestfwd=tcp:10.0.2.100:${BASH_REMATCH[1]}-cmd:socat - TCP:127.0.0.1:${BASH_REMATCH[2]}"
done

t0=$(date +%s)
qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m "${VM_MEM:-3072}" -smp "${VM_CPUS:-2}" \
	-nographic -no-reboot -serial "file:$tmp/console.log" -monitor none \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.unified_cgroup_hierarchy=1" \
	-drive "file=$tmp/disk.qcow2,format=qcow2,if=virtio" \
	-virtfs "local,path=$share,mount_tag=host,security_model=passthrough,id=host" \
	-nic "$nic" </dev/null >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
touch "$share/job.out"
tail -n +1 -F "$share/job.out" 2>/dev/null &
tail_pid=$!

timed_out=""
while kill -0 "$qemu_pid" 2>/dev/null; do
	if (( $(date +%s) - t0 >= timeout_s )); then
		timed_out=1
		log "timeout after ${timeout_s}s: killing QEMU (pid $qemu_pid)"
		kill -KILL "$qemu_pid"
		break
	fi
	sleep 1
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=""
sleep 1 # let tail print the last lines
kill "$tail_pid" 2>/dev/null || true
tail_pid=""

secs=$(( $(date +%s) - t0 ))
if [[ -n "$timed_out" ]]; then
	tail -n 30 "$tmp/console.log" >&2
	exit 124
fi
if [[ ! -f "$share/job.rc" ]]; then
	log "the VM powered off without a job exit code after ${secs}s; QEMU said:"
	cat "$tmp/qemu.log" >&2
	log "console:"
	tail -n 40 "$tmp/console.log" >&2
	exit 125
fi
rc="$(cat "$share/job.rc")"
log "job exit $rc, ${secs}s"
exit "$rc"
