#!/usr/bin/env bash
# Usage: serve.sh [--state DIR] [--no-build]
#
# Builds the test images (cached, see build.sh), starts an in-memory registry
# (`crane registry serve`) on a free port of 127.0.0.1, pushes every image to
# it and prints "port=PORT pid=PID". The same values go to DIR/registry.port
# and DIR/registry.pid (default DIR: test/images/out). The registry keeps
# running after this script exits; stop it with `kill PID`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="$here/out"
build=1
while [[ $# -gt 0 ]]; do
	case "$1" in
	--state) state="$2"; shift 2 ;;
	--no-build) build=""; shift ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) echo "serve.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
crane="${CRANE:-$here/bin/crane}"
out="${IMAGES_OUT:-$here/out}"

[[ -z "$build" ]] || bash "$here/build.sh" --out "$out"
[[ -x "$crane" ]] || { echo "serve.sh: no crane at $crane (run build.sh)" >&2; exit 1; }

mkdir -p "$state"
reglog="$state/registry.log"
# Port 0: the kernel picks a free port, crane logs which one.
"$crane" registry serve --address 127.0.0.1:0 </dev/null >"$reglog" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
	port="$(sed -n 's/.*serving on port \([0-9]*\).*/\1/p' "$reglog" | head -n1)"
	[[ -n "$port" ]] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [[ -z "$port" ]]; then
	echo "serve.sh: registry did not start:" >&2
	cat "$reglog" >&2
	kill "$pid" 2>/dev/null || true
	exit 1
fi
echo "$port" >"$state/registry.port"
echo "$pid" >"$state/registry.pid"
if ! bash "$here/build.sh" --out "$out" --push "127.0.0.1:$port" --push-only; then
	kill "$pid" 2>/dev/null || true
	exit 1
fi
echo "port=$port pid=$pid"
