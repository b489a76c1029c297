#!/usr/bin/env bash
# Builds the reference containerd (daemon and containerd-shim-runc-v2) that
# `make bench-compare` measures Krill against, from its Go module, into a
# private directory, and prints that directory. Nothing is installed on the
# system: the benchmark starts this containerd on private paths only.
#
# Built like containerd's Makefile (version stamped in, `-s -w`, shim static
# without cgo and with `no_grpc`), plus `no_btrfs`: the btrfs snapshotter
# needs btrfs headers (cgo) and the benchmark uses overlayfs. The result is
# cached: a stamp records the version and Go toolchain.
#
# Env: CONTAINERD_VERSION (default v2.4.2), CONTAINERD_DIR (default
# /var/cache/krill-test-containerd).
set -euo pipefail

CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
CONTAINERD_DIR="${CONTAINERD_DIR:-/var/cache/krill-test-containerd}"
out="$CONTAINERD_DIR/$CONTAINERD_VERSION"
stamp="$out/stamp"
want="containerd $CONTAINERD_VERSION $(go env GOVERSION) no_btrfs"

if [[ -x "$out/containerd" && -x "$out/containerd-shim-runc-v2" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "$out"
	exit 0
fi

mod="github.com/containerd/containerd/v2"
mod_dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$mod@$CONTAINERD_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [[ -z "$mod_dir" || ! -d "$mod_dir" ]]; then
	echo "build-containerd: cannot locate module $mod@$CONTAINERD_VERSION" >&2
	exit 1
fi
echo "build-containerd: building containerd $CONTAINERD_VERSION (several minutes cold)" >&2
mkdir -p "$out"
ver="-X $mod/version.Version=$CONTAINERD_VERSION -X $mod/version.Revision=module -X $mod/version.Package=$mod"
# Built inside the module's own directory (read-only is fine for `go
# build -o` elsewhere): its go.mod and go.sum pin the dependencies.
(cd "$mod_dir" && GOFLAGS="-buildvcs=false -mod=mod" go build -trimpath -tags "urfave_cli_no_docs no_btrfs" \
	-ldflags "$ver -s -w" -o "$out/containerd.tmp" ./cmd/containerd)
(cd "$mod_dir" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod" go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_grpc" \
	-ldflags "$ver -s -w" -o "$out/containerd-shim-runc-v2.tmp" ./cmd/containerd-shim-runc-v2)
mv -f "$out/containerd.tmp" "$out/containerd"
mv -f "$out/containerd-shim-runc-v2.tmp" "$out/containerd-shim-runc-v2"
echo "$want" >"$stamp"
echo "$out"
