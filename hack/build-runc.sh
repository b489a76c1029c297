#!/usr/bin/env bash
# Builds a current runc from its Go module into a private directory and
# prints the binary's path. Debian 12's runc (1.1.5) has no idmapped mounts
# (user namespaces need >= 1.2) and predates the 2025 advisories
# (CVE-2025-31133, -52565, -52881, fixed in 1.2.8 / 1.3.3 / 1.4.0-rc.3).
#
# The module zip has everything `make` would use; runc needs cgo and
# libseccomp (Debian's libseccomp-dev). The result is cached: a stamp records
# the version and Go toolchain, and the build is skipped when both match.
#
# Env: RUNC_VERSION (default v1.3.7), RUNC_DIR (default /var/cache/krill-test-runc).
set -euo pipefail

RUNC_VERSION="${RUNC_VERSION:-v1.3.7}"
RUNC_DIR="${RUNC_DIR:-/var/cache/krill-test-runc}"
out="$RUNC_DIR/$RUNC_VERSION/runc"
stamp="$out.stamp"
want="runc $RUNC_VERSION $(go env GOVERSION) seccomp"

if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "$out"
	exit 0
fi

for p in libseccomp-dev pkg-config gcc libc6-dev; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "build-runc: installing $p" >&2
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2
	fi
done

mod_dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/opencontainers/runc@$RUNC_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [[ -z "$mod_dir" || ! -d "$mod_dir" ]]; then
	echo "build-runc: cannot locate module github.com/opencontainers/runc@$RUNC_VERSION" >&2
	exit 1
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/runc-src.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$mod_dir/." "$work/"
chmod -R u+w "$work"

echo "build-runc: building runc $RUNC_VERSION (a minute or two cold)" >&2
mkdir -p "$(dirname "$out")"
# Like runc's Makefile: the version is stamped in, seccomp is on. Module
# zips carry no vendor/: dependencies come from the module proxy/cache, at
# the versions runc's go.sum pins.
(cd "$work" && CGO_ENABLED=1 GOFLAGS="-buildvcs=false" go build -trimpath -mod=mod -tags "seccomp urfave_cli_no_docs" \
	-ldflags "-X main.version=${RUNC_VERSION#v} -X main.gitCommit=module" -o "$out.tmp" .)
mv -f "$out.tmp" "$out"
echo "$want" >"$stamp"
echo "$out"
