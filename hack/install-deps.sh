#!/usr/bin/env bash
# Installs what Krill needs on a Debian 12 machine, as root: the OCI
# runtime, CNI plugins, network tools, a C compiler for the static pause
# binary, the registry and tools the tests use, and crictl.
# Safe to run again: it only installs what is missing.
set -euo pipefail

pkgs=(runc crun containernetworking-plugins iproute2 iptables gcc libc6-dev musl-tools make
      docker-registry apache2-utils busybox-static git ca-certificates curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry package starts a registry on :5000; tests start
# their own, so leave the packaged service stopped.
if [ -x /etc/init.d/docker-registry ]; then /etc/init.d/docker-registry stop >/dev/null 2>&1 || true; fi

export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v staticcheck >/dev/null; then
	echo "installing staticcheck v0.8.2 (make lint)"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
if ! command -v crictl >/dev/null; then
	echo "installing crictl v1.37.0"
	go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0
fi
