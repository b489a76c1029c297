package network

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// Attachment is what CNI ADD did for a pod on one network, as libcni
// cached it: verbose PodSandboxStatus shows it so a learner (or someone
// debugging) sees the interfaces, addresses and routes the plugins made.
type Attachment struct {
	Network string `json:"network"`
	IfName  string `json:"ifName"`
	// Result is the plugin chain's final result: interfaces (with the
	// sandbox path), IPs with gateways, routes, DNS.
	Result *types100.Result `json:"result,omitempty"`
	// PortMappings are the host ports handed to portmap, if any.
	PortMappings any `json:"portMappings,omitempty"`
}

// Attachments returns the cached CNI results of pod podID (none for a
// host-network pod or after teardown).
func (m *Manager) Attachments(podID string) ([]Attachment, error) {
	if err := validPodID(podID); err != nil {
		return nil, err
	}
	cached, err := m.cni.GetCachedAttachments(podID)
	if err != nil {
		return nil, fmt.Errorf("read cni cache of pod %s: %w", podID, err)
	}
	var out []Attachment
	for _, c := range cached {
		a := Attachment{Network: c.Network, IfName: c.IfName, PortMappings: c.CapabilityArgs["portMappings"]}
		list, err := libcni.NetworkConfFromBytes(c.Config)
		if err == nil {
			rt := &libcni.RuntimeConf{ContainerID: c.ContainerID, NetNS: c.NetNS, IfName: c.IfName, Args: c.CniArgs, CapabilityArgs: c.CapabilityArgs}
			if res, err := m.cni.GetNetworkListCachedResult(list, rt); err == nil && res != nil {
				a.Result, _ = types100.NewResultFromResult(res)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Describe tells which network configuration pods get and whether it is
// usable now, for verbose Status.
func (m *Manager) Describe() map[string]any {
	out := map[string]any{"confDir": m.cfg.ConfDir, "binDirs": m.cfg.BinDirs}
	list, source, err := m.loadNetwork()
	if err == nil {
		var plugins []string
		for _, p := range list.Plugins {
			plugins = append(plugins, p.Network.Type)
		}
		out["configFile"], out["network"], out["cniVersion"], out["plugins"] = source, list.Name, list.CNIVersion, plugins
		var conf any
		if json.Unmarshal(list.Bytes, &conf) == nil {
			out["config"] = conf
		}
	}
	ready, reason, msg := m.Status()
	out["status"] = map[string]any{"ready": ready, "reason": reason, "message": msg}
	return out
}
