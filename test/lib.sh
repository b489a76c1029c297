# Shared by the test harnesses (test/critest/run.sh, test/kubelet/run.sh):
# the CNI network and the krilld configuration a throw-away krilld runs with.
# Source it; it defines functions only.

# write_cni_conflist FILE NAME BRIDGE SUBNET IPAM_DIR
# A bridge network for test pods: gateway on the bridge, no masquerade (the
# network rule: pod traffic never leaves this machine), hairpin for hostPort
# to self, portmap for hostPort mappings. No loopback plugin: krilld brings
# lo up itself when it creates the netns.
write_cni_conflist() {
	local file=$1 name=$2 bridge=$3 subnet=$4 ipam=$5
	mkdir -p "$(dirname "$file")"
	cat >"$file" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$subnet" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

# write_krilld_config FILE ROOT STATE SOCKET CERTS_DIR NET_DIR
# NRI is on with a socket next to SOCKET (nri.sock) and no pre-installed
# plugins, so this krilld never takes another runtime's /var/run/nri/nri.sock.
# Its request timeout is 5s, not the default 2s: critest's synchronisation
# specs hold a plugin's Synchronize open for 2s on purpose, and a plugin
# whose Synchronize times out is dropped.
write_krilld_config() {
	local dir
	dir="$(dirname "$4")"
	cat >"$1" <<EOF
root = "$2"
state = "$3"
listen = "unix://$4"
log_level = "info"
pause_image = "registry.k8s.io/pause:3.10"

[registry]
config_path = "$5"

[cni]
conf_dir = "$6"
bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]

[nri]
socket_path = "$dir/nri.sock"
plugin_path = "$dir/nri-plugins"
plugin_config_path = "$dir/nri-conf.d"
request_timeout = "5s"
EOF
}

# stop_pid PID NAME: SIGTERM, then SIGKILL after 15 s. Only processes this
# harness started are ever signalled.
stop_pid() {
	local pid="$1" name="$2" i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
		sleep 0.1
	done
	log "cleanup: $name ($pid) ignored SIGTERM, killing"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# delete_runc_leftovers DIR: `runc delete --force` for every runc container
# whose state lives below DIR (a runc root of the krilld this harness
# started): the containers krilld could not remove (it crashed, or rmp
# failed) are all ours.
delete_runc_leftovers() {
	local st root id
	while read -r st; do
		root="$(dirname "$(dirname "$st")")"
		id="$(basename "$(dirname "$st")")"
		log "cleanup: deleting leftover runc container $id"
		runc --root "$root" delete --force "$id" >/dev/null 2>&1
	done < <(find "$1" -name state.json -path '*/runc*' 2>/dev/null)
}

# unmount_under DIR: unmounts every mount point below DIR (and DIR's own
# subdirectories mounted onto themselves), deepest first, repeatedly: a bind
# mount can be stacked.
unmount_under() {
	local dir="$1" m pass
	for pass in 1 2 3; do
		local any=""
		while read -r m; do
			any=1
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cleanup: cannot unmount $m"
		done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
		[[ -n "$any" ]] || break
	done
}

# clean_portmap_rules: removes what the portmap plugin left for the test
# subnet ($SUBNET_PREFIX, e.g. "10.89.0."): per-container CNI-DN-* chains
# DNATing into it (and the jumps to them), and any rule in the
# CNI-HOSTPORT-* chains naming it.
clean_portmap_rules() {
	command -v iptables >/dev/null || return 0
	local c rule
	for c in $(iptables -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^CNI-DN-/ { print $2 }'); do
		iptables -t nat -S "$c" 2>/dev/null | grep -qF -- "$SUBNET_PREFIX" || continue
		while read -r rule; do
			eval "iptables -t nat -D ${rule#-A }" 2>/dev/null
		done < <(iptables -t nat -S | grep -E -- "^-A .* -j $c( |$)")
		iptables -t nat -F "$c" 2>/dev/null
		iptables -t nat -X "$c" 2>/dev/null
	done
	while read -r rule; do
		eval "iptables -t nat -D ${rule#-A }" 2>/dev/null
	done < <(iptables -t nat -S 2>/dev/null | grep -E '^-A CNI-HOSTPORT-' | grep -F -- "$SUBNET_PREFIX")
}

# The functions above report through log(), which each harness defines.
