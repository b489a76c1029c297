# Shared by the test harnesses (test/critest/run.sh, test/kubelet/run.sh):
# the CNI network and the krilld configuration a throw-away krilld runs with.
# Source it; it defines functions only.

# write_cni_conflist FILE NAME BRIDGE SUBNET IPAM_DIR
# A bridge network for test pods: gateway on the bridge, no masquerade (the
# network rule: pod traffic never leaves this machine), hairpin for hostPort
# to self, portmap for hostPort mappings, loopback for lo.
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
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
EOF
}

# write_krilld_config FILE ROOT STATE SOCKET CERTS_DIR NET_DIR
write_krilld_config() {
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
EOF
}
