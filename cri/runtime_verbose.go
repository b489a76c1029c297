package cri

import (
	"encoding/json"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// verboseStatus is what `crictl info` shows beyond the conditions: each
// value a JSON document, under keys like containerd's where one exists
// ("config", "cniconfig").
func (s *Server) verboseStatus(resp *runtime.StatusResponse) map[string]string {
	info := map[string]any{
		"config":          s.cfg,
		"cniconfig":       s.network.Describe(),
		"runtimeHandlers": resp.GetRuntimeHandlers(),
		"features":        resp.GetFeatures(),
		"cgroup":          map[string]string{"mode": s.cgroups.Mode(), "driver": s.cgroups.Driver(), "configured": s.cfg.Cgroup.Driver, "root": s.cgroups.Root()},
		"apparmor":        map[string]bool{"enabled": s.containers.AppArmorEnabled()},
		"nri":             map[string]any{"enabled": s.cfg.NRI.Enable, "socket": s.cfg.NRI.SocketPath},
	}
	out := make(map[string]string, len(info))
	for k, v := range info {
		b, err := json.Marshal(v)
		if err != nil {
			s.log.Warn("verbose status", "key", k, "err", err)
			continue
		}
		out[k] = string(b)
	}
	return out
}
