#!/usr/bin/env bash
# Usage: contrib/install.sh BIN_DIR   (what `make install` runs; as root)
#
# Installs Krill as a system service:
#   BIN_DIR/{krilld,krill-shim,krill-pause} -> $DESTDIR$PREFIX/bin (PREFIX: /usr/local)
#   contrib/systemd/krilld.service          -> $DESTDIR/etc/systemd/system/
#   contrib/krill.toml (the defaults)       -> $DESTDIR/etc/krill/krill.toml, only if absent
# and reloads systemd when it runs the machine. It neither enables nor
# starts krilld: `systemctl enable --now krilld` does. A running krilld
# keeps its binary (install replaces the file, it does not write into it):
# `systemctl restart krilld` picks the new one up, containers keep running.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:?usage: install.sh BIN_DIR}"
prefix="${PREFIX:-/usr/local}"
dest="${DESTDIR:-}"

install -d "$dest$prefix/bin" "$dest/etc/systemd/system" "$dest/etc/krill"
for b in krilld krill-shim krill-pause; do
	install -m 0755 "$bin/$b" "$dest$prefix/bin/$b"
done
sed "s|/usr/local/bin/krilld|$prefix/bin/krilld|" "$here/systemd/krilld.service" >"$dest/etc/systemd/system/krilld.service.tmp"
mv -f "$dest/etc/systemd/system/krilld.service.tmp" "$dest/etc/systemd/system/krilld.service"
if [[ ! -e "$dest/etc/krill/krill.toml" ]]; then
	install -m 0644 "$here/krill.toml" "$dest/etc/krill/krill.toml"
else
	echo "install.sh: keeping the existing $dest/etc/krill/krill.toml"
fi
if [[ -z "$dest" && -d /run/systemd/system ]]; then
	systemctl daemon-reload
fi
echo "installed krilld, krill-shim, krill-pause in $dest$prefix/bin; unit $dest/etc/systemd/system/krilld.service"
