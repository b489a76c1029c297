#!/usr/bin/env bash
# Builds kubelet from the Go module proxy into test/kubelet/bin/kubelet, and
# test/kubelet/bin/kexec (kexec/main.go: exec through kubelet's streaming
# API) inside the same scratch module, which already has client-go.
#
# `go install k8s.io/kubernetes/cmd/kubelet@vX` does not work: kubernetes'
# go.mod requires its staging modules at v0.0.0 with replaces pointing into
# ./staging. So we build from a scratch module that requires k8s.io/kubernetes
# and replaces every one of those staging modules with its published v0.X
# tag. The result is cached: nothing happens when the binary already reports
# the wanted version.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.${KUBE_VERSION#v1.}}

here=$(cd "$(dirname "$0")" && pwd)
bin=$here/bin/kubelet
build=$here/build

# build_kexec: (re)builds bin/kexec when missing or older than its source.
build_kexec() {
	local src=$here/kexec/main.go out=$here/bin/kexec
	[[ -x $out && $out -nt $src ]] && return 0
	mkdir -p "$build/kexec"
	cp -f "$src" "$build/kexec/main.go"
	# Files named on the command line are built despite their ignore constraint.
	(cd "$build" && go build -trimpath -o "$out.tmp" ./kexec/main.go)
	mv -f "$out.tmp" "$out"
	echo "build.sh: built $out"
}

if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -qx "Kubernetes $KUBE_VERSION" && [[ -f $build/go.mod ]]; then
	echo "kubelet $KUBE_VERSION already built: $bin"
	build_kexec
	exit 0
fi

mkdir -p "$build" "$here/bin"
cd "$build"
start=$(date +%s)

# The kubernetes go.mod, straight from the module proxy.
gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
if [[ ! -f $gomod ]]; then
	echo "build.sh: could not find the go.mod of k8s.io/kubernetes@$KUBE_VERSION" >&2
	exit 1
fi

# Staging modules: those replaced with a ./staging/ path.
mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
if (( ${#staging[@]} == 0 )); then
	echo "build.sh: no staging replaces found in $gomod" >&2
	exit 1
fi
echo "build.sh: kubernetes $KUBE_VERSION, ${#staging[@]} staging modules at $STAGING_VERSION"

{
	echo "module kubeletbuild"
	echo
	grep -E '^go [0-9]' "$gomod"
	# godebug may be a single line or a block.
	awk '/^godebug \(/{b=1} b{print} b&&/^\)/{b=0; next} /^godebug [^(]/{print}' "$gomod"
	echo
	echo "require k8s.io/kubernetes $KUBE_VERSION"
	echo
	echo "replace ("
	for m in "${staging[@]}"; do
		echo "	$m => $m $STAGING_VERSION"
	done
	echo ")"
} >go.mod

cat >tools.go <<'GO'
//go:build tools

package kubeletbuild

import _ "k8s.io/kubernetes/cmd/kubelet"
GO

go mod tidy

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w"
ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
ldflags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000"
go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" k8s.io/kubernetes/cmd/kubelet
mv "$bin.tmp" "$bin"

"$bin" --version
echo "build.sh: kubelet built in $(( $(date +%s) - start ))s"
build_kexec
