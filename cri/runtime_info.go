package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/version"
)

// Version answers kubelet's first call.
func (s *Server) Version(ctx context.Context, r *runtime.VersionRequest) (*runtime.VersionResponse, error) {
	return &runtime.VersionResponse{
		Version:           "0.1.0",
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
		// runc 1.1 mounts "rro"; it has no idmapped mounts, so no user
		// namespaces. "" is the default handler.
		RuntimeHandlers: []*runtime.RuntimeHandler{{
			Name:     "",
			Features: &runtime.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: true, UserNamespaces: false},
		}},
		Features: &runtime.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if r.GetVerbose() {
		resp.Info = s.verboseStatus(resp)
	}
	return resp, nil
}

// RuntimeConfig tells kubelet which cgroup driver is in force (kubelet >=
// 1.31 uses it instead of its own cgroupDriver setting).
func (s *Server) RuntimeConfig(ctx context.Context, r *runtime.RuntimeConfigRequest) (*runtime.RuntimeConfigResponse, error) {
	driver := runtime.CgroupDriver_CGROUPFS
	if s.pods.Cgroups.Driver() == cgroups.DriverSystemd {
		driver = runtime.CgroupDriver_SYSTEMD
	}
	return &runtime.RuntimeConfigResponse{Linux: &runtime.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// UpdateRuntimeConfig stores the pod CIDR kubelet learned from the node
// object; the default CNI network allocates from it.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, r *runtime.UpdateRuntimeConfigRequest) (*runtime.UpdateRuntimeConfigResponse, error) {
	if cidr := r.GetRuntimeConfig().GetNetworkConfig().GetPodCidr(); cidr != "" {
		s.podCIDR.Store(cidr)
		s.network.SetPodCIDR(cidr)
	}
	return &runtime.UpdateRuntimeConfigResponse{}, nil
}
