package network

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
)

// The built-in default network, used when ConfDir holds no configuration
// (see doc.go for the JSON it produces).
const (
	DefaultNetworkName = "krill"
	DefaultBridge      = "krill0"
	DefaultSubnet      = "10.88.0.0/16"
	builtinSource      = "built-in default" // loadNetwork's source for it
	defaultCNIVersion  = "1.0.0"            // the newest version Debian's plugins (1.1.1) speak
)

// defaultNetwork builds the built-in conflist for the current pod CIDR(s),
// with or without portmap.
func (m *Manager) defaultNetwork(portmap bool) (*libcni.NetworkConfigList, error) {
	m.mu.Lock()
	cidrs := append([]string(nil), m.podCIDRs...)
	m.mu.Unlock()
	if len(cidrs) == 0 {
		cidrs = []string{DefaultSubnet}
	}
	data, err := defaultConflist(cidrs, portmap)
	if err != nil {
		return nil, err
	}
	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("built-in network: %w: %w", err, errdefs.ErrInternal)
	}
	return list, nil
}

// defaultConflist renders the default network for the given subnets: one
// host-local range set per subnet (dual stack = two), a default route per
// address family. portmap is left out for pods without host ports.
func defaultConflist(cidrs []string, portmap bool) ([]byte, error) {
	var ranges [][]map[string]string
	var routes []map[string]string
	seen := map[string]bool{}
	for _, c := range cidrs {
		ip, _, err := net.ParseCIDR(c)
		if err != nil {
			return nil, fmt.Errorf("pod cidr %q: %w", c, errdefs.ErrInvalidArgument)
		}
		ranges = append(ranges, []map[string]string{{"subnet": c}})
		dst := "0.0.0.0/0"
		if ip.To4() == nil {
			dst = "::/0"
		}
		if !seen[dst] {
			seen[dst] = true
			routes = append(routes, map[string]string{"dst": dst})
		}
	}
	plugins := []any{
		map[string]any{
			"type":      builtinBridgeType,
			"bridge":    DefaultBridge,
			"isGateway": true,
			// Never masquerade pod traffic out of the host: pods reach
			// each other and the host, and nothing beyond.
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":   "host-local",
				"ranges": ranges,
				"routes": routes,
			},
		},
	}
	if portmap {
		plugins = append(plugins, map[string]any{
			"type":         "portmap",
			"capabilities": map[string]bool{"portMappings": true},
			// snat (the default) masquerades only host-local (127.0.0.1)
			// and hairpin connections to a host port, so that a pod
			// answers them; critest GETs http://127.0.0.1:<hostPort>.
			"snat": true,
		})
	}
	conf := map[string]any{
		"cniVersion": defaultCNIVersion,
		"name":       DefaultNetworkName,
		"plugins":    plugins,
	}
	return json.MarshalIndent(conf, "", "  ")
}
