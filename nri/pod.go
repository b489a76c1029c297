package nri

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	api "github.com/containerd/nri/pkg/api"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// RunPodSandbox tells plugins about a pod whose pause container and
// network are up but whose record is not stored yet, so nobody sees the
// pod while plugins look at it. A plugin's error fails the pod (sandbox
// undoes everything), as in containerd.
func (s *Service) RunPodSandbox(ctx context.Context, pod store.Pod) error {
	if !s.Enabled() {
		return nil
	}
	if err := s.nri.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: s.podToNRI(pod)}); err != nil {
		return fmt.Errorf("NRI RunPodSandbox of pod %s: %v: %w", pod.ID, err, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// StopPodSandbox tells plugins a ready pod is stopping; its containers have
// stopped and its pause container and network are still there. Sandbox
// calls it once, on the first stop.
func (s *Service) StopPodSandbox(ctx context.Context, pod store.Pod) {
	if !s.Enabled() {
		return
	}
	if err := s.nri.StopPodSandbox(ctx, &api.StopPodSandboxRequest{Pod: s.podToNRI(pod)}); err != nil {
		s.Log.Warn("NRI StopPodSandbox", "pod", pod.ID, "err", err)
	}
}

// RemovePodSandbox tells plugins a pod is gone.
func (s *Service) RemovePodSandbox(ctx context.Context, pod store.Pod) {
	if !s.Enabled() {
		return
	}
	if err := s.nri.RemovePodSandbox(ctx, &api.RemovePodSandboxRequest{Pod: s.podToNRI(pod)}); err != nil {
		s.Log.Warn("NRI RemovePodSandbox", "pod", pod.ID, "err", err)
	}
}

// podToNRI describes a pod record the way NRI plugins see pods.
func (s *Service) podToNRI(p store.Pod) *api.PodSandbox {
	md := p.Config.GetMetadata()
	linux := p.Config.GetLinux()
	var ns []*api.LinuxNamespace
	if p.NetNS != "" {
		ns = append(ns, &api.LinuxNamespace{Type: "network", Path: p.NetNS})
	}
	if p.PausePid > 0 {
		for _, kind := range []string{"ipc", "uts"} {
			ns = append(ns, &api.LinuxNamespace{Type: kind, Path: fmt.Sprintf("/proc/%d/ns/%s", p.PausePid, kind)})
		}
	}
	var ips []string
	if p.IP != "" {
		ips = append([]string{p.IP}, p.AdditionalIPs...)
	}
	return &api.PodSandbox{
		Id:             p.ID,
		Name:           md.GetName(),
		Uid:            md.GetUid(),
		Namespace:      md.GetNamespace(),
		Labels:         p.Config.GetLabels(),
		Annotations:    p.Config.GetAnnotations(),
		RuntimeHandler: p.Handler,
		Linux: &api.LinuxPodSandbox{
			PodOverhead:  api.FromOCILinuxResources(cgroups.ToOCI(linux.GetOverhead(), 0), nil),
			PodResources: api.FromOCILinuxResources(cgroups.ToOCI(linux.GetResources(), 0), nil),
			CgroupParent: p.CgroupParent,
			CgroupsPath:  s.Cgroups.ContainerPath(p.CgroupParent, p.ID),
			Namespaces:   ns,
		},
		Pid: uint32(p.PausePid),
		Ips: ips,
	}
}
