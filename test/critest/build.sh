#!/usr/bin/env bash
# Builds the critest binary (sigs.k8s.io/cri-tools critest) into test/critest/bin/critest.
#
# critest is a Ginkgo test binary: it has no non-test Go files, so `go install`
# cannot build it. We copy the module out of the read-only module cache and run
# `go test -c` there. The result is cached: a stamp file records the version and
# Go toolchain, and the build is skipped when both match.
set -euo pipefail

CRITEST_VERSION="${CRITEST_VERSION:-v1.37.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${CRITEST_BIN_DIR:-$here/bin}"
out="$out_dir/critest"
stamp="$out.stamp"
ldflags="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRITEST_VERSION"
want="cri-tools $CRITEST_VERSION $(go env GOVERSION) $ldflags"

if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "critest $CRITEST_VERSION: cached at $out" >&2
	exit 0
fi

mkdir -p "$out_dir"
mod_dir="$(go mod download -json "sigs.k8s.io/cri-tools@$CRITEST_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [[ -z "$mod_dir" || ! -d "$mod_dir" ]]; then
	echo "critest build: cannot locate module sigs.k8s.io/cri-tools@$CRITEST_VERSION" >&2
	exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/critest-src.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$mod_dir/." "$work/"
chmod -R u+w "$work"

echo "critest $CRITEST_VERSION: building (a few minutes cold)" >&2
# Module zips carry no vendor directory: dependencies come from the module proxy/cache.
(cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go test -c -ldflags "$ldflags" -o "$out.tmp" ./cmd/critest)
mv -f "$out.tmp" "$out"
echo "$want" >"$stamp"
echo "critest $CRITEST_VERSION: built $out" >&2
