#!/bin/bash
# Guest job (run by test/vm/suite.sh through test/vm/run.sh): Krill installed
# and run the way a systemd node runs it.
#   1. contrib/install.sh (what `make install` runs), registry mirrors to the
#      host's test registry (10.0.2.100:$REGISTRY_PORT through guestfwd);
#   2. `krilld check` passes; `systemctl start krilld` returns only once the
#      socket answers (Type=notify);
#   3. smoke: a pod and a container with limits; the limits in its cgroup v2
#      files; what the container sees in /proc/self/cgroup;
#   4. `systemctl restart krilld`, then `systemctl stop krilld`: the container
#      keeps running and keeps logging, krilld finds it again;
#   5. critest on the service's socket (when $CRITEST is set).
# Prints PASS/FAIL lines and last "vm-service: N passed, M failed".
# Settings come from ./job.env (written by suite.sh).
set -u
share=/mnt/host
. "$share/job.env"
sock=unix:///run/krill/krill.sock
BUSYBOX=registry.k8s.io/e2e-test-images/busybox:1.29-2
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1${2:+ ($2)}"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1: $2"; }
info() { echo "INFO: $*"; }
cri() { crictl "$@"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_until() {
	local deadline=$(( $(date +%s) + $1 )); shift
	until "$@" >/dev/null 2>&1; do
		(( $(date +%s) < deadline )) || return 1
		sleep 0.5
	done
}
finish() {
	journalctl -u krilld --no-pager >"$share/out/krilld.journal" 2>&1
	# Every error has its own gRPC code: a call answered with Unknown is a
	# mapping krilld is missing (the host harness checks the same).
	local unknown
	unknown=$(grep -m1 'code=Unknown' "$share/out/krilld.journal")
	if [[ -n "$unknown" ]]; then
		fail "no call answered with code Unknown" "$unknown"
	else
		pass "no call answered with code Unknown" "$(grep -c 'rpc=' "$share/out/krilld.journal") calls logged, failed ones all"
	fi
	echo "vm-service: $passed passed, $failed failed"
	(( failed == 0 ))
	exit
}

# ---------------------------------------------------------------- 1. install
printf 'runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 60\n' "$sock" "$sock" >/etc/crictl.yaml
bash "$share/contrib/install.sh" "$share" || { fail install "contrib/install.sh failed"; finish; }
bash "$share/mirrors.sh" /etc/krill/certs.d "$REGISTRY_PORT" 10.0.2.100
# A second handler with a current runc, which user-namespaced pods need
# (RuntimeClass runc-current); the default handler stays Debian's runc.
if [[ -x "$share/runc" ]]; then
	install -m 0755 "$share/runc" /usr/local/sbin/runc-current
	printf '\n[runtime.handlers.runc-current]\npath = "/usr/local/sbin/runc-current"\n' >>/etc/krill/krill.toml
fi
if [[ "${KRILL_CGROUP_DRIVER:-cgroupfs}" != cgroupfs ]]; then
	printf '\n[cgroup]\ndriver = "%s"\n' "$KRILL_CGROUP_DRIVER" >>/etc/krill/krill.toml
fi

# ---------------------------------------------------------------- 2. check, start
if out="$(/usr/local/bin/krilld check --config /etc/krill/krill.toml 2>&1)"; then
	pass "krilld check" "$(echo "$out" | grep -c '^ok') ok, $(echo "$out" | grep -c '^WARN') warnings"
else
	fail "krilld check" "$out"
fi
echo "$out" | sed 's/^/  check: /'
systemctl enable krilld 2>/dev/null
t=$(ms)
if ! systemctl start krilld; then
	fail "systemctl start krilld" "$(systemctl status krilld --no-pager 2>&1 | tail -n 20)"
	finish
fi
start_ms=$(( $(ms) - t ))
# No retry: Type=notify means the socket answers when start returns.
if cri version >/dev/null 2>&1; then
	pass "systemctl start returns when the socket answers" "$(systemctl show -p Type --value krilld), ${start_ms} ms"
else
	fail "systemctl start returns when the socket answers" "start returned after ${start_ms} ms but crictl version failed"
fi

# ---------------------------------------------------------------- 3. smoke
mkdir -p /var/log/krill-smoke
cat >pod.json <<'JSON'
{"metadata": {"name": "smoke", "namespace": "default", "uid": "smoke-uid-1", "attempt": 0},
 "log_directory": "/var/log/krill-smoke", "linux": {}}
JSON
cat >ctr.json <<JSON
{"metadata": {"name": "ticker"}, "image": {"image": "$BUSYBOX"},
 "command": ["sh", "-c", "cat /proc/self/cgroup; i=0; while true; do echo tick \$i; i=\$((i+1)); sleep 1; done"],
 "log_path": "ticker.log",
 "linux": {"resources": {"memory_limit_in_bytes": 67108864, "cpu_quota": 50000, "cpu_period": 100000, "cpu_shares": 512}}}
JSON
log=/var/log/krill-smoke/ticker.log
ticks() { grep -c ' stdout F tick ' "$log" 2>/dev/null || echo 0; }
# logs_grow: the log gains lines over 3 s (the container is alive and its
# shim still copies its output).
logs_grow() { local a b; a=$(ticks); sleep 3; b=$(ticks); echo "$a -> $b lines"; (( b > a )); }
ctr=""
if cri pull "$BUSYBOX" >/dev/null && pod="$(cri runp pod.json)" && ctr="$(cri create "$pod" ctr.json pod.json)" && cri start "$ctr" >/dev/null &&
	wait_until 30 grep -q 'tick 1$' "$log"; then
	pass "pod and container run" "pod ${pod:0:12}, container ${ctr:0:12}"
else
	fail "pod and container run" "$(tail -n 20 "$log" 2>&1)"
	finish
fi
pid="$(cri inspect "$ctr" | jq -r .info.pid)"
cg="$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")"
mem="$(cat "/sys/fs/cgroup$cg/memory.max" 2>&1)"
cpumax="$(cat "/sys/fs/cgroup$cg/cpu.max" 2>&1)"
if [[ "$mem" == 67108864 && "$cpumax" == "50000 100000" ]]; then
	pass "limits in cgroup v2 files" "$cg: memory.max $mem, cpu.max $cpumax, cpu.weight $(cat "/sys/fs/cgroup$cg/cpu.weight")"
else
	fail "limits in cgroup v2 files" "$cg: memory.max=$mem (67108864) cpu.max=$cpumax (50000 100000)"
fi
seen="$(grep ' stdout F 0::' "$log" | head -n1 | sed 's/.* stdout F //')"
if [[ "$seen" == "0::/" ]]; then
	pass "container has its own cgroup namespace" "/proc/self/cgroup: $seen"
elif [[ -n "${EXPECT_CGROUPNS:-}" ]]; then
	fail "container has its own cgroup namespace" "/proc/self/cgroup: $seen"
else
	info "container's /proc/self/cgroup: $seen (0::/ expected once per-container cgroup namespaces are in)"
fi

# ---------------------------------------------------------------- 4. restart, stop
running() { [[ -n "$(cri ps -q --id "$ctr" --state Running)" ]]; }
main_pid() { systemctl show -p MainPID --value krilld; }
before="$(main_pid)"
if systemctl restart krilld && [[ "$(main_pid)" != "$before" ]]; then
	if kill -0 "$pid" && running && msg="$(logs_grow)"; then
		pass "systemctl restart krilld keeps the container and its log" "$msg"
	else
		fail "systemctl restart krilld keeps the container and its log" "pid $pid alive: $(kill -0 "$pid" 2>&1 && echo yes); listed running: $(running && echo yes || echo no); log $(logs_grow)"
	fi
	if [[ "$(cri exec "$ctr" echo exec-after-restart 2>&1)" == exec-after-restart ]]; then
		pass "exec after restart"
	else
		fail "exec after restart" "$(cri exec "$ctr" echo exec-after-restart 2>&1 | tail -n 3)"
	fi
else
	fail "systemctl restart krilld" "$(systemctl status krilld --no-pager 2>&1 | tail -n 20)"
fi

systemctl stop krilld
if [[ "$(systemctl is-active krilld)" != active ]] && kill -0 "$pid" && msg="$(logs_grow)"; then
	pass "systemctl stop krilld: the container keeps running and logging" "$msg"
else
	fail "systemctl stop krilld: the container keeps running and logging" "krilld $(systemctl is-active krilld); pid $pid alive: $(kill -0 "$pid" 2>&1 && echo yes)"
fi
systemctl start krilld
if running && msg="$(logs_grow)"; then
	pass "krilld started again finds the container" "$msg"
else
	fail "krilld started again finds the container" "$(cri ps -a 2>&1 | tail -n 5)"
fi
# The pod shares one pid namespace (crictl leaves namespace_options unset:
# POD). A container that exits leaving a child behind takes the child with
# it as its init exits, as containerd's runc shim does
# (krill-shim -kill-all-on-exit, through the systemd scope's cgroup here).
cat >leaver.json <<JSON
{"metadata": {"name": "leaver"}, "image": {"image": "$BUSYBOX"},
 "command": ["sh", "-c", "sleep 3607 & sleep 1; cut -d' ' -f1 /proc/uptime; exit 3"], "log_path": "leaver.log"}
JSON
exited() { [[ "$(cri inspect "$leaver" 2>/dev/null | jq -r .status.state)" == CONTAINER_EXITED ]]; }
gone_child() { ! pgrep -f "sleep 360[7]" >/dev/null; }
# The child holds the container's output pipe, and the shim reports the exit
# only once that pipe is drained. With the kill on exit, the child dies as
# the init exits, the pipe closes and krilld records the exit at once;
# without it, the shim waits out its 5 s drain timeout first and the child
# dies only later, in runc delete. So the time from the init's last words
# (the uptime it prints as it exits) to krilld's "container exited" line
# tells the two apart, with the drain timeout as the line. It is read from
# krilld's own timestamp: under emulation a crictl call, and even a pgrep
# poller, can lag by seconds (a poller saw 3.5 s where krilld had recorded
# the exit well under one). uptime is the node's boot clock, inside the
# container too; off turns it into the wall clock krilld logs.
if leaver="$(cri create "$pod" leaver.json pod.json)" && cri start "$leaver" >/dev/null && wait_until 60 exited; then
	off="$(awk -v now="$(date +%s.%N)" '{ printf "%.3f", now - $1 }' /proc/uptime)"
	code="$(cri inspect "$leaver" | jq -r .status.exitCode)"
	bye="$(sed -n 's/.* stdout F \([0-9.]*\)$/\1/p' /var/log/krill-smoke/leaver.log)"
	at="$(journalctl -u krilld --no-pager -o cat | sed -n "s/^time=\([^ ]*\) .*msg=\"container exited\" container=$leaver .*/\1/p" | head -n1)"
	rec="$([[ -n "$at" ]] && date -d "$at" +%s.%N)"
	took="$(awk -v a="$bye" -v o="$off" -v b="$rec" 'BEGIN { if (a == "" || b == "") print 99999; else printf "%d", (b - (a + o)) * 1000 }')"
	if [[ "$code" == 3 ]] && gone_child && (( took < 2500 )) && running; then
		pass "a container leaving a child in the pod's pid namespace takes it along on exit" "exit $code; krilld recorded the exit ${took} ms after the init's last output; the child is gone; the pod's other container runs"
	else
		fail "a container leaving a child in the pod's pid namespace takes it along on exit" "exit $code; krilld recorded the exit ${took} ms after the init's last output (want < 2500, half the drain timeout; 99999: not found); left: $(pgrep -af "sleep 360[7]" | tr '\n' ' '); ticker running: $(running && echo yes || echo no)"
	fi
else
	fail "a container leaving a child in the pod's pid namespace takes it along on exit" "did not exit: $(cri ps -a 2>&1 | tail -n 5)"
fi
if cri rmp -f "$pod" >/dev/null && ! kill -0 "$pid" 2>/dev/null && ! pgrep -x krill-shim >/dev/null; then
	pass "pod removed: container and shims gone"
else
	fail "pod removed: container and shims gone" "pid $pid alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no); shims: $(pgrep -x krill-shim | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- 5. critest
if [[ -n "${CRITEST:-}" ]]; then
	echo "critest ${CRITEST_ARGS[*]:-}"
	t=$(ms)
	# --nri-socket: critest's NRI specs connect their plugins to the
	# service's own NRI socket (on by default).
	critest --runtime-endpoint "$sock" --image-endpoint "$sock" --nri-socket /var/run/nri/nri.sock \
		"--ginkgo.junit-report=$share/out/junit.xml" --ginkgo.no-color "${CRITEST_ARGS[@]}" >"$share/out/critest.log" 2>&1
	echo "critest took $(( ($(ms) - t) / 1000 )) s"
	if sum="$(summary junit "$share/out/junit.xml" "$CRITEST_ALLOW_FAIL")"; then
		pass "critest on the krilld service" "$(echo "$sum" | tail -n1)"
	else
		fail "critest on the krilld service" "$(echo "$sum" | tail -n1)"
	fi
	echo "$sum"
	# critest's user-namespace specs only use the handler it is given
	# (-runtime-handler); Debian's runc, the default, cannot idmap mounts.
	if [[ -x /usr/local/sbin/runc-current ]]; then
		t=$(ms)
		critest --runtime-endpoint "$sock" --image-endpoint "$sock" --runtime-handler runc-current \
			--ginkgo.focus=UserNamespaces "--ginkgo.junit-report=$share/out/junit-userns.xml" --ginkgo.no-color \
			>"$share/out/critest-userns.log" 2>&1
		echo "critest (user namespaces, handler runc-current) took $(( ($(ms) - t) / 1000 )) s"
		if sum="$(summary junit "$share/out/junit-userns.xml" "$CRITEST_ALLOW_FAIL")"; then
			pass "critest user-namespace specs on handler runc-current" "$(echo "$sum" | tail -n1)"
		else
			fail "critest user-namespace specs on handler runc-current" "$(echo "$sum" | tail -n1)"
		fi
		echo "$sum"
	fi
fi
finish
