package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/version"
)

// kubeAPIVersion is the "kubelet runtime API version" of VersionResponse:
// fixed at 0.1.0 by the CRI, as containerd and CRI-O report it. Krill's own
// version is RuntimeVersion (version.Version).
const kubeAPIVersion = "0.1.0"

// Version answers kubelet's first call.
func (s *Server) Version(ctx context.Context, r *runtime.VersionRequest) (*runtime.VersionResponse, error) {
	return &runtime.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       "krill",
		RuntimeVersion:    version.Version,
		RuntimeApiVersion: "v1",
	}, nil
}

// Status reports the RuntimeReady and NetworkReady conditions.
func (s *Server) Status(ctx context.Context, r *runtime.StatusRequest) (*runtime.StatusResponse, error) {
	netReady, reason, msg := s.network.Status()
	resp := &runtime.StatusResponse{Status: &runtime.RuntimeStatus{Conditions: []*runtime.RuntimeCondition{
		{Type: runtime.RuntimeReady, Status: true},
		{Type: runtime.NetworkReady, Status: netReady, Reason: reason, Message: msg},
	}},
		RuntimeHandlers: s.runtimeHandlers(ctx),
		Features:        &runtime.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if r.GetVerbose() {
		resp.Info = s.verboseStatus(resp)
	}
	return resp, nil
}

// runtimeHandlers lists "" (the default handler) and then every handler by
// name, each with the features its binary reported.
func (s *Server) runtimeHandlers(ctx context.Context) []*runtime.RuntimeHandler {
	names := append([]string{""}, s.runtimes.Names()...)
	var out []*runtime.RuntimeHandler
	for _, name := range names {
		rt, err := s.runtimes.Get(name)
		if err != nil {
			continue
		}
		f, err := rt.Features(ctx)
		if err != nil {
			s.log.Warn("runtime handler features", "handler", name, "err", err)
		}
		out = append(out, &runtime.RuntimeHandler{Name: name, Features: &runtime.RuntimeHandlerFeatures{
			RecursiveReadOnlyMounts: f.RecursiveReadOnlyMounts,
			UserNamespaces:          f.UserNamespaces,
		}})
	}
	return out
}

// driverSystemd is cgroups.DriverSystemd, the name kubelet's cgroupDriver
// setting uses too (TestRuntimeConfigReportsDriver holds them together).
const driverSystemd = "systemd"

// RuntimeConfig tells kubelet which cgroup driver is in force (kubelet >=
// 1.31 uses it instead of its own cgroupDriver setting).
func (s *Server) RuntimeConfig(ctx context.Context, r *runtime.RuntimeConfigRequest) (*runtime.RuntimeConfigResponse, error) {
	driver := runtime.CgroupDriver_CGROUPFS
	if s.cgroups.Driver() == driverSystemd {
		driver = runtime.CgroupDriver_SYSTEMD
	}
	return &runtime.RuntimeConfigResponse{Linux: &runtime.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// UpdateRuntimeConfig stores the pod CIDR kubelet learned from the node
// object; the default CNI network allocates from it.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, r *runtime.UpdateRuntimeConfigRequest) (*runtime.UpdateRuntimeConfigResponse, error) {
	if cidr := r.GetRuntimeConfig().GetNetworkConfig().GetPodCidr(); cidr != "" {
		s.network.SetPodCIDR(cidr)
	}
	return &runtime.UpdateRuntimeConfigResponse{}, nil
}
