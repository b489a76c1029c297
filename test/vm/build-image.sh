#!/usr/bin/env bash
# Usage: build-image.sh        (prints the cached image directory)
#
# Builds the Debian 12 test VM image from Debian packages only and caches it
# under $KRILL_VM_CACHE (default /var/cache/krill-test-vm)/<hash>/, where
# <hash> covers everything the image is made from: this script, packages.txt
# and guest/. Nothing happens when that directory exists; change an input and
# the next run builds a new one (and removes the older images).
#
# The image directory holds disk.img (raw, sparse ext4 root filesystem; runs
# never write to it, test/vm/run.sh boots a qcow2 overlay over it), vmlinuz
# and initrd.img.
#
# Steps: debootstrap (minbase + packages.txt) from the host's Debian mirror,
# an initramfs that can mount a virtio disk and the 9p share, fstab, the
# hostname in /etc/hosts (sudo warns on stderr otherwise, and critest's
# AppArmor specs fail on that), the job unit from guest/, then mkfs.ext4 -d.
# About 3-5 minutes cold on a loaded 2-core machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${KRILL_VM_CACHE:-/var/cache/krill-test-vm}"
log() { echo "build-image.sh: $*" >&2; }

bash "$here/deps.sh"

key="$(cat "$here/build-image.sh" "$here/packages.txt" "$here"/guest/* | sha256sum | cut -c1-16)"
img="$cache/$key"
if [[ -f "$img/disk.img" && -f "$img/vmlinuz" && -f "$img/initrd.img" ]]; then
	echo "$img"
	exit 0
fi

mkdir -p "$cache"
# Two runs that both miss the cache build it once.
exec 8>"$cache/build.lock"
flock 8
if [[ -f "$img/disk.img" ]]; then echo "$img"; exit 0; fi

# The mirror this machine's apt already uses (deb822 or one-line format).
mirror="${KRILL_VM_MIRROR:-}"
if [[ -z "$mirror" ]]; then
	mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "URIs:" || $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }' | grep -v security | head -n1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d "$cache/build.XXXXXX")"
root="$work/rootfs"
mounted=()
cleanup() {
	local m
	for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The kernel is installed after debootstrap, once initramfs-tools is told to
# build a small initramfs with only what this VM's boot needs (a virtio disk
# with ext4): initramfs-tools' default includes most of the kernel's drivers
# and was rebuilt three times during debootstrap, minutes each on a loaded
# machine.
pkgs="$(grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$' | grep -vx 'linux-image-amd64' | paste -sd, -)"
t0=$SECONDS
log "debootstrap bookworm from $mirror into $root"
debootstrap --variant=minbase --include="$pkgs,initramfs-tools" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
log "debootstrap done in $((SECONDS - t0))s"

for m in proc sys dev; do
	mount --bind "/$m" "$root/$m"
	mounted=("$root/$m" "${mounted[@]}")
done

echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/krill-vm.conf"
printf '%s\n' virtio_pci virtio_blk ext4 >>"$root/etc/initramfs-tools/modules"
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-image-amd64 \
	>"$work/kernel.log" 2>&1 || { tail -n 30 "$work/kernel.log" >&2; exit 1; }
log "kernel installed at $((SECONDS - t0))s"

cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda   /          ext4 rw,relatime 0 1
host       /mnt/host  9p   trans=virtio,version=9p2000.L,msize=262144,nofail 0 0
FSTAB
mkdir -p "$root/mnt/host"
echo krill-vm >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tkrill-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
install -m 0644 "$here/guest/krill-vm-job.service" "$root/etc/systemd/system/"
install -m 0755 "$here/guest/krill-vm-job" "$root/usr/local/sbin/"
chroot "$root" systemctl enable krill-vm-job.service >/dev/null 2>&1
# Debian's docker-registry package runs a registry on :5000; the kubelet
# e2e starts its own.
chroot "$root" systemctl disable docker-registry.service >/dev/null 2>&1 || true
# Nobody logs in: no getty, and no waiting for a network manager.
chroot "$root" systemctl mask serial-getty@ttyS0.service getty@tty1.service \
	systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
chroot "$root" apt-get clean

for m in "${mounted[@]}"; do umount "$m"; done
mounted=()

mkdir -p "$work/out"
cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd.img"
truncate -s 8G "$work/out/disk.img"
mkfs.ext4 -q -F -L krill-vm -d "$root" "$work/out/disk.img"
mv "$work/out" "$img"
# Older images are never used again.
for old in "$cache"/*/; do
	[[ "${old%/}" == "$img" || "$(basename "$old")" == build.* ]] || rm -rf --one-file-system "$old"
done
log "image ready in $((SECONDS - t0))s: $img ($(du -sh "$img/disk.img" | cut -f1) used)"
echo "$img"
