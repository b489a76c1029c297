package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bridgeAdd does what the bridge plugin with host-local IPAM does for the
// built-in network, in the same order: addresses from host-local's
// allocator and its files (the same directory and lock as the binary, so
// pods set up by either never share an address, across krilld restarts
// too), the bridge with the gateway addresses, a veth pair with one end on
// the bridge (hairpin on) and the other as ifName in the pod, the pod's
// addresses and routes. Whatever it made is undone when a step fails.
func bridgeAdd(stdin []byte, args map[string]string) (_ []byte, err error) {
	conf, err := parseBridgeConf(stdin)
	if err != nil {
		return nil, err
	}
	id, ifName, netnsPath := args["CNI_CONTAINERID"], args["CNI_IFNAME"], args["CNI_NETNS"]
	ipam, _, err := allocator.LoadIPAMConfig(stdin, args["CNI_ARGS"])
	if err != nil {
		return nil, fmt.Errorf("%s: ipam config: %w", builtinBridgeType, err)
	}
	ips, err := allocate(ipam, id, ifName)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			release(ipam, id, ifName)
		}
	}()
	br, err := ensureBridge(conf)
	if err != nil {
		return nil, err
	}
	if conf.IsGateway {
		if err := gatewayUp(br, ips); err != nil {
			return nil, err
		}
	}
	hostVeth, err := addVeth(br, conf, ifName, netnsPath)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(hostVeth)
		}
	}()
	podMAC, err := configurePod(netnsPath, ifName, ips, ipam)
	if err != nil {
		return nil, err
	}
	if br, err = netlink.LinkByName(conf.Bridge); err != nil { // its MAC may change with a first port
		return nil, fmt.Errorf("%s: bridge %s: %w", builtinBridgeType, conf.Bridge, err)
	}
	podIdx := 2
	res := &types100.Result{
		CNIVersion: types100.ImplementedSpecVersion,
		Interfaces: []*types100.Interface{
			{Name: conf.Bridge, Mac: br.Attrs().HardwareAddr.String()},
			{Name: hostVeth.Attrs().Name, Mac: hostVeth.Attrs().HardwareAddr.String()},
			{Name: ifName, Mac: podMAC, Sandbox: netnsPath},
		},
		Routes: ipam.Routes,
	}
	for _, ip := range ips {
		ip.Interface = &podIdx
		res.IPs = append(res.IPs, ip)
	}
	return resultBytes(res, conf.CNIVersion)
}

// bridgeDel undoes bridgeAdd: the pod's end of the veth (the kernel
// removes both ends) when the netns still exists, then the addresses.
// Missing pieces are not errors: DEL may run more than once.
func bridgeDel(stdin []byte, args map[string]string) error {
	if _, err := parseBridgeConf(stdin); err != nil {
		return err
	}
	id, ifName, netnsPath := args["CNI_CONTAINERID"], args["CNI_IFNAME"], args["CNI_NETNS"]
	ipam, _, err := allocator.LoadIPAMConfig(stdin, args["CNI_ARGS"])
	if err != nil {
		return fmt.Errorf("%s: ipam config: %w", builtinBridgeType, err)
	}
	if netnsPath != "" && isNetNS(netnsPath) {
		err := inNetNS(netnsPath, func() error {
			link, err := netlink.LinkByName(ifName)
			var notFound netlink.LinkNotFoundError
			if errors.As(err, &notFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return netlink.LinkDel(link)
		})
		if err != nil {
			return fmt.Errorf("%s: delete %s in %s: %w", builtinBridgeType, ifName, netnsPath, err)
		}
	}
	return release(ipam, id, ifName)
}

// allocate takes one address per range set, as host-local does.
func allocate(ipam *allocator.IPAMConfig, id, ifName string) ([]*types100.IPConfig, error) {
	store, err := disk.New(ipam.Name, ipam.DataDir)
	if err != nil {
		return nil, fmt.Errorf("%s: ipam store: %w", builtinBridgeType, err)
	}
	defer store.Close()
	var ips []*types100.IPConfig
	for i := range ipam.Ranges {
		ip, err := allocator.NewIPAllocator(&ipam.Ranges[i], store, i).Get(id, ifName, nil)
		if err != nil {
			for j := range ips {
				allocator.NewIPAllocator(&ipam.Ranges[j], store, j).Release(id, ifName)
			}
			return nil, fmt.Errorf("%s: allocate an address in range %d: %w", builtinBridgeType, i, err)
		}
		ips = append(ips, ip)
	}
	return ips, nil
}

// release frees the addresses of (id, ifName) in every range set.
func release(ipam *allocator.IPAMConfig, id, ifName string) error {
	store, err := disk.New(ipam.Name, ipam.DataDir)
	if err != nil {
		return fmt.Errorf("%s: ipam store: %w", builtinBridgeType, err)
	}
	defer store.Close()
	var errs []error
	for i := range ipam.Ranges {
		if err := allocator.NewIPAllocator(&ipam.Ranges[i], store, i).Release(id, ifName); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: release addresses: %w", builtinBridgeType, err)
	}
	return nil
}

// ensureBridge finds the bridge or creates it, and brings it up. Pods set
// up at the same time may both try to create it.
func ensureBridge(conf *bridgeConf) (netlink.Link, error) {
	br, err := netlink.LinkByName(conf.Bridge)
	if err == nil {
		if _, ok := br.(*netlink.Bridge); !ok {
			return nil, fmt.Errorf("%s: %s exists and is a %s, not a bridge", builtinBridgeType, conf.Bridge, br.Type())
		}
	} else {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = conf.Bridge, conf.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("%s: create bridge %s: %w", builtinBridgeType, conf.Bridge, err)
		}
		if br, err = netlink.LinkByName(conf.Bridge); err != nil {
			return nil, fmt.Errorf("%s: bridge %s: %w", builtinBridgeType, conf.Bridge, err)
		}
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("%s: bring %s up: %w", builtinBridgeType, conf.Bridge, err)
		}
	}
	return br, nil
}

// gatewayUp puts each range's gateway address on the bridge and turns on
// forwarding for its family, as the bridge plugin's isGateway does.
func gatewayUp(br netlink.Link, ips []*types100.IPConfig) error {
	for _, ip := range ips {
		if ip.Gateway == nil {
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.Gateway, Mask: ip.Address.Mask}}
		forward := "/proc/sys/net/ipv4/ip_forward"
		if ip.Gateway.To4() == nil {
			addr.Flags = unix.IFA_F_NODAD // the gateway must answer at once
			forward = "/proc/sys/net/ipv6/conf/all/forwarding"
		}
		if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s: gateway %s on %s: %w", builtinBridgeType, addr.IPNet, br.Attrs().Name, err)
		}
		if err := ensureSysctl(forward, "1"); err != nil {
			return fmt.Errorf("%s: enable forwarding: %w", builtinBridgeType, err)
		}
	}
	return nil
}

// addVeth creates a veth pair: the host end (veth<random>) on the bridge,
// hairpin as configured, and up; the other end created straight into the
// pod's netns under ifName.
func addVeth(br netlink.Link, conf *bridgeConf, ifName, netnsPath string) (netlink.Link, error) {
	ns, err := os.Open(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("%s: open netns: %w", builtinBridgeType, err)
	}
	defer ns.Close()
	var name string
	for try := 0; ; try++ {
		b := make([]byte, 4)
		rand.Read(b)
		name = "veth" + hex.EncodeToString(b)
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = name, conf.MTU
		err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: ifName, PeerNamespace: netlink.NsFd(ns.Fd())})
		if err == nil || !errors.Is(err, unix.EEXIST) || try == 9 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: create veth %s/%s: %w", builtinBridgeType, name, ifName, err)
	}
	host, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetMaster(host, br)
	}
	if err == nil && conf.HairpinMode {
		err = netlink.LinkSetHairpin(host, true)
	}
	if err == nil {
		err = netlink.LinkSetUp(host)
	}
	if err == nil {
		host, err = netlink.LinkByName(name)
	}
	if err != nil {
		// Deleting takes the link's index: look it up by name.
		if l, lerr := netlink.LinkByName(name); lerr == nil {
			netlink.LinkDel(l) // the pod's end goes with it
		}
		return nil, fmt.Errorf("%s: set up %s on %s: %w", builtinBridgeType, name, br.Attrs().Name, err)
	}
	return host, nil
}

// configurePod brings ifName up in the pod with its addresses and routes
// and returns its MAC. arp_notify makes the pod announce itself, so hosts
// that cached its address for an earlier pod learn the new MAC; IPv6
// addresses skip duplicate detection (the allocator made them unique), as
// the bridge plugin does.
func configurePod(netnsPath, ifName string, ips []*types100.IPConfig, ipam *allocator.IPAMConfig) (string, error) {
	var mac string
	err := inNetNS(netnsPath, func() error {
		link, err := netlink.LinkByName(ifName)
		if err != nil {
			return err
		}
		mac = link.Attrs().HardwareAddr.String()
		ensureSysctl(filepath.Join("/proc/sys/net/ipv4/conf", ifName, "arp_notify"), "1")
		ensureSysctl(filepath.Join("/proc/sys/net/ipv6/conf", ifName, "accept_dad"), "0")
		if err := netlink.LinkSetUp(link); err != nil {
			return err
		}
		for _, ip := range ips {
			addr := &netlink.Addr{IPNet: &ip.Address}
			if ip.Address.IP.To4() == nil {
				addr.Flags = unix.IFA_F_NODAD
			}
			if err := netlink.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("address %s: %w", ip.Address.String(), err)
			}
		}
		for _, r := range ipam.Routes {
			gw := r.GW
			if gw == nil {
				gw = gatewayFor(ips, r.Dst.IP.To4() != nil)
			}
			route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &r.Dst, Gw: gw}
			if err := netlink.RouteAdd(route); err != nil && !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("route %s via %s: %w", r.Dst.String(), gw, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: configure %s in %s: %w", builtinBridgeType, ifName, netnsPath, err)
	}
	return mac, nil
}

// gatewayFor is the gateway of the first address of the family: a route
// without its own gateway goes through it, as ipam.ConfigureIface does.
func gatewayFor(ips []*types100.IPConfig, v4 bool) net.IP {
	for _, ip := range ips {
		if (ip.Address.IP.To4() != nil) == v4 && ip.Gateway != nil {
			return ip.Gateway
		}
	}
	return nil
}

// ensureSysctl writes value to a /proc/sys file unless it holds it already
// (a write to ip_forward resets other per-interface settings).
func ensureSysctl(path, value string) error {
	if cur, err := os.ReadFile(path); err == nil && string(cur) == value+"\n" {
		return nil
	}
	return os.WriteFile(path, []byte(value), 0o644)
}
