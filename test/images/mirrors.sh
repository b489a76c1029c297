#!/usr/bin/env bash
# Usage: mirrors.sh DIR PORT [HOST]
#
# Writes containerd-format registry host files, DIR/<host>/hosts.toml, that
# send pulls for the registries critest uses to the local test registry on
# HOST:PORT (plain HTTP; HOST defaults to 127.0.0.1, a VM uses the host's
# registry through 10.0.2.100, see test/vm/run.sh). The mirror keeps the repository path:
# registry.k8s.io/e2e-test-images/busybox:1.29-2 is fetched as
# http://127.0.0.1:PORT/v2/e2e-test-images/busybox/manifests/1.29-2, while the
# runtime still records the upstream name in RepoTags and RepoDigests.
# Krill reads DIR through its config key registry.config_path.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
	echo "usage: mirrors.sh DIR PORT [HOST]" >&2
	exit 2
fi
dir="$1" port="$2" addr="${3:-127.0.0.1}"
[[ "$port" =~ ^[0-9]+$ ]] || { echo "mirrors.sh: bad port $port" >&2; exit 2; }

for host in registry.k8s.io k8s.gcr.io gcr.io public.ecr.aws docker.io; do
	server="https://$host"
	# Docker Hub's API lives on registry-1.docker.io, not docker.io.
	[[ "$host" == docker.io ]] && server="https://registry-1.docker.io"
	mkdir -p "$dir/$host"
	cat >"$dir/$host/hosts.toml" <<-TOML
		# Written by test/images/mirrors.sh: $host pulls come from the local test registry.
		server = "$server"

		[host."http://$addr:$port"]
		  capabilities = ["pull", "resolve"]
	TOML
done
