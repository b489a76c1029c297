#!/usr/bin/env bash
# Installs the host packages the VM tests need (Debian 12, as root): QEMU
# (software emulation), qemu-img for the per-run overlay, debootstrap for
# the image and socat for guestfwd. Only what is missing.
set -euo pipefail
missing=()
for p in qemu-system-x86 qemu-utils debootstrap socat; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "test/vm/deps.sh: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
