// Package network gives pods their network: a network namespace per pod,
// pinned as a file, and the CNI plugins (run through libcni) that put an
// interface, an address, routes and host port forwards into it.
//
// It owns:
//   - state/netns/<pod id>: the bind-mounted network namespace of a pod
//     (CreateNetNS, RemoveNetNS). state/netns is made a shared mount point,
//     like /run/netns is by `ip netns`.
//   - state/cni-cache: libcni's cache of ADD results (config, CNI_ARGS,
//     capability arguments). Teardown reads it, so DEL releases exactly what
//     ADD took, even after a daemon restart or a change of the conf dir.
//   - the choice of network: the first .conflist, .conf or .json file of
//     the conf dir in lexical order (broken files are skipped with a
//     warning); when the dir holds no configuration file at all, the
//     built-in default network below.
//
// It must never know about containers, and never masquerade pod traffic
// out of the host.
//
// # Setup and Teardown
//
// Setup runs ADD on eth0 with CNI_ARGS
// IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;K8S_POD_INFRA_CONTAINER_ID=<pod id>;K8S_POD_UID=..
// and the capability arguments portMappings (CRI mappings with a host port,
// protocol lowercased) and cgroupPath. lo needs no plugin: CreateNetNS
// brings it up with two ioctls, whatever the configuration. If the ADD
// fails, Setup runs DEL before returning the error, so nothing leaks. Teardown runs DEL; it is
// idempotent, and tolerates a netns that is already gone (plugins get an
// empty CNI_NETNS and still release the address and the iptables rules).
//
// # The built-in default network
//
// Used when the conf dir holds no configuration. Its bridge is krilld's own
// (type "krill-bridge", builtin.go): libcni drives it like any plugin (cache,
// intent, DEL after a restart, the verbose cniResult), but instead of
// starting the bridge and host-local binaries on every ADD and DEL (two Go
// processes, ~16 ms of CPU each here) krilld does their work itself with
// netlink: the bridge with the gateway address(es) and forwarding on, a
// veth pair (hairpin on the bridge port), the pod's addresses and routes;
// addresses come from host-local's own allocator and files
// (/var/lib/cni/networks/krill, same lock), so no address is handed out
// twice across restarts, nor next to pods the binaries set up. Only the
// portmap plugin must be installed, for pods with host ports. A pod without
// host ports gets the list without portmap: that plugin would do nothing
// on its ADD, yet cost a process start there and several iptables runs on
// DEL.
//
//	{
//	  "cniVersion": "1.0.0",
//	  "name": "krill",
//	  "plugins": [
//	    {
//	      "type": "krill-bridge",
//	      "bridge": "krill0",
//	      "isGateway": true,
//	      "ipMasq": false,
//	      "hairpinMode": true,
//	      "ipam": {
//	        "type": "host-local",
//	        "ranges": [[{"subnet": "10.88.0.0/16"}]],
//	        "routes": [{"dst": "0.0.0.0/0"}]
//	      }
//	    },
//	    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
//	  ]
//	}
//
// SetPodCIDR replaces the subnet (one range set per CIDR for dual stack, with
// a ::/0 route for IPv6). ipMasq is false on purpose: pods reach each other
// and the host, nothing beyond. portmap's "snat" masquerades only
// connections to a host port that come from the host itself (127.0.0.1) or
// hairpin from the pod, and sets route_localnet on the bridge, so that
// 127.0.0.1:<hostPort> reaches the pod (critest's port mapping spec GETs
// exactly that). isGateway turns on net.ipv4.ip_forward (and IPv6
// forwarding for an IPv6 subnet), as the bridge plugin does.
//
// Status reports NetworkPluginNotReady, with the reason in the message, when
// no configuration is usable or a plugin it names is missing from every
// plugin dir.
package network
