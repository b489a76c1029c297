#!/bin/bash
# Runs the unit tests of the lifecycle packages as an unprivileged user
# (nobody): they use fakes for the network, images and OCI runtime and
# must need neither root nor runc. Test binaries are built first (as the
# caller: the module cache may be unreadable to nobody), then run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/krill-unit-nonroot.XXXXXX)
trap 'rm -rf "$out"' EXIT
chmod 755 "$out"
pkgs=(./container/... ./sandbox/...)
for p in $(go list "${pkgs[@]}"); do
	name=$(echo "${p#github.com/krill-runtime/krill/}" | tr / _)
	go test -c -o "$out/$name.test" "$p"
done
start=$(date +%s.%N)
fail=0
for t in "$out"/*.test; do
	[ -e "$t" ] || continue
	echo "== $(basename "$t" .test)"
	(cd /tmp && setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp TMPDIR=/tmp "$t" -test.count=1) >"$t.log" 2>&1 || fail=1
	grep -E '^(--- FAIL|PASS|FAIL|ok)' "$t.log" || true
done
echo "ran as nobody in $(echo "$(date +%s.%N) - $start" | bc) s"
[ $fail = 0 ] || { echo "failed; logs in $out"; trap - EXIT; exit 1; }
