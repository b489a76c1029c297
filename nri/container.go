package nri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/runtime-tools/generate"
	"github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// CreateContainer asks plugins to adjust a container's OCI spec before it
// is written for runc, and applies their answer to spec in place: the
// combined adjustment has passed the security rules (rules.go), and the
// OOM score is clamped to krilld's. It reports whether plugins changed the
// resources, so the record can show what is in force. A plugin's veto or
// an adjustment that cannot be applied fails the creation.
func (s *Service) CreateContainer(ctx context.Context, pod store.Pod, c store.Container, spec *specs.Spec) (resourcesChanged bool, err error) {
	if !s.Enabled() {
		return false, nil
	}
	resp, err := s.nri.CreateContainer(ctx, &api.CreateContainerRequest{Pod: s.podToNRI(pod), Container: containerToNRI(c, spec)})
	if err != nil {
		return false, fmt.Errorf("NRI CreateContainer of %s: %v: %w", c.ID, err, errdefs.ErrFailedPrecondition)
	}
	s.evict(ctx, resp.GetEvict())
	s.applyUpdates(ctx, resp.GetUpdate())
	adjust := resp.GetAdjust()
	if adjust == nil {
		return false, nil
	}
	if err := generate.SpecGenerator(&specGen{spec}).Adjust(adjust); err != nil {
		return false, fmt.Errorf("apply NRI adjustment to %s: %v: %w", c.ID, err, errdefs.ErrInvalidArgument)
	}
	s.clampOOMScore(spec)
	return adjust.GetLinux().GetResources() != nil, nil
}

// PostCreateContainer tells plugins the container exists (runc created it).
func (s *Service) PostCreateContainer(ctx context.Context, c store.Container) {
	s.notify(ctx, "PostCreateContainer", c, func(ctx context.Context, p *api.PodSandbox, ctr *api.Container) error {
		return s.nri.PostCreateContainer(ctx, &api.PostCreateContainerRequest{Pod: p, Container: ctr})
	})
}

// StartContainer tells plugins the container is about to start; a plugin's
// error fails the start.
func (s *Service) StartContainer(ctx context.Context, c store.Container) error {
	if !s.Enabled() {
		return nil
	}
	err := s.nri.StartContainer(ctx, &api.StartContainerRequest{Pod: s.pod(c), Container: containerToNRI(c, nil)})
	if err != nil {
		return fmt.Errorf("NRI StartContainer of %s: %v: %w", c.ID, err, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// PostStartContainer tells plugins the container's process runs.
func (s *Service) PostStartContainer(ctx context.Context, c store.Container) {
	s.notify(ctx, "PostStartContainer", c, func(ctx context.Context, p *api.PodSandbox, ctr *api.Container) error {
		return s.nri.PostStartContainer(ctx, &api.PostStartContainerRequest{Pod: p, Container: ctr})
	})
}

// UpdateContainer lets plugins amend the resources a CRI update asks for;
// res is changed in place. Updates plugins ask for other containers are
// applied too.
func (s *Service) UpdateContainer(ctx context.Context, c store.Container, res *specs.LinuxResources) error {
	if !s.Enabled() {
		return nil
	}
	resp, err := s.nri.UpdateContainer(ctx, &api.UpdateContainerRequest{
		Pod: s.pod(c), Container: containerToNRI(c, nil), LinuxResources: api.FromOCILinuxResources(res, nil),
	})
	if err != nil {
		return fmt.Errorf("NRI UpdateContainer of %s: %v: %w", c.ID, err, errdefs.ErrFailedPrecondition)
	}
	s.evict(ctx, resp.GetEvict())
	var others []*api.ContainerUpdate
	for _, u := range resp.GetUpdate() {
		if u.GetContainerId() != c.ID {
			others = append(others, u)
			continue
		}
		spec := &specs.Spec{Linux: &specs.Linux{Resources: res}}
		if err := generate.SpecGenerator(&specGen{spec}).AdjustResources(u.GetLinux().GetResources()); err != nil {
			return fmt.Errorf("apply NRI update to %s: %v: %w", c.ID, err, errdefs.ErrInvalidArgument)
		}
	}
	s.applyUpdates(ctx, others)
	return nil
}

// PostUpdateContainer tells plugins the new resources are in force.
func (s *Service) PostUpdateContainer(ctx context.Context, c store.Container) {
	s.notify(ctx, "PostUpdateContainer", c, func(ctx context.Context, p *api.PodSandbox, ctr *api.Container) error {
		return s.nri.PostUpdateContainer(ctx, &api.PostUpdateContainerRequest{Pod: p, Container: ctr})
	})
}

// StopContainer tells plugins a container has stopped, whether it was
// stopped or exited on its own; container calls it once per container,
// when the exit is recorded. Plugins may hand resources back to others.
func (s *Service) StopContainer(ctx context.Context, c store.Container) {
	s.notify(ctx, "StopContainer", c, func(ctx context.Context, p *api.PodSandbox, ctr *api.Container) error {
		resp, err := s.nri.StopContainer(ctx, &api.StopContainerRequest{Pod: p, Container: ctr})
		s.applyUpdates(ctx, resp.GetUpdate())
		return err
	})
}

// RemoveContainer tells plugins a container is gone. It is also the undo
// of a CreateContainer whose container was never made.
func (s *Service) RemoveContainer(ctx context.Context, c store.Container) {
	s.notify(ctx, "RemoveContainer", c, func(ctx context.Context, p *api.PodSandbox, ctr *api.Container) error {
		return s.nri.RemoveContainer(ctx, &api.RemoveContainerRequest{Pod: p, Container: ctr})
	})
}

// notify sends an event plugins cannot veto; a failure is only logged.
func (s *Service) notify(ctx context.Context, event string, c store.Container, send func(context.Context, *api.PodSandbox, *api.Container) error) {
	if !s.Enabled() {
		return
	}
	if err := send(ctx, s.pod(c), containerToNRI(c, nil)); err != nil {
		s.Log.Warn("NRI "+event, "container", c.ID, "err", err)
	}
}

// pod returns the NRI view of a container's pod; a pod already forgotten
// is described by its ID alone.
func (s *Service) pod(c store.Container) *api.PodSandbox {
	p, err := s.Pods.Get(c.PodID)
	if err != nil {
		return &api.PodSandbox{Id: c.PodID}
	}
	return s.podToNRI(p)
}

// containerToNRI describes a container the way NRI plugins see it: its
// record plus its OCI spec (spec, or else the bundle's config.json; a
// container whose bundle is gone is described by its record alone).
func containerToNRI(c store.Container, spec *specs.Spec) *api.Container {
	if spec == nil {
		spec = readSpec(c.Bundle)
	}
	ctr := &api.Container{
		Id:            c.ID,
		PodSandboxId:  c.PodID,
		Name:          c.Config.GetMetadata().GetName(),
		State:         stateToNRI(c.State),
		Labels:        c.Config.GetLabels(),
		Annotations:   spec.Annotations,
		Pid:           uint32(c.Pid),
		CreatedAt:     c.CreatedAt,
		StartedAt:     c.StartedAt,
		FinishedAt:    c.FinishedAt,
		ExitCode:      c.ExitCode,
		StatusReason:  c.Reason,
		StatusMessage: c.Message,
		Mounts:        api.FromOCIMounts(spec.Mounts),
		Hooks:         api.FromOCIHooks(spec.Hooks),
	}
	if p := spec.Process; p != nil {
		ctr.Args, ctr.Env = p.Args, p.Env
		for _, r := range p.Rlimits {
			ctr.Rlimits = append(ctr.Rlimits, &api.POSIXRlimit{Type: r.Type, Hard: r.Hard, Soft: r.Soft})
		}
	}
	if l := spec.Linux; l != nil {
		res := l.Resources
		if c.Resources != nil && res != nil {
			// The record holds the limits CRI and plugin updates put in
			// force since the spec was written.
			now := *res
			upd := cgroups.ToOCI(c.Resources, 0)
			now.CPU, now.Memory = upd.CPU, upd.Memory
			res = &now
		}
		ctr.Linux = &api.LinuxContainer{
			Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
			Devices:     api.FromOCILinuxDevices(l.Devices),
			Resources:   api.FromOCILinuxResources(res, nil),
			CgroupsPath: l.CgroupsPath,
		}
		if spec.Process != nil && spec.Process.OOMScoreAdj != nil {
			ctr.Linux.OomScoreAdj = api.Int(spec.Process.OOMScoreAdj)
		}
	}
	return ctr
}

func readSpec(bundle string) *specs.Spec {
	s := &specs.Spec{}
	if data, err := os.ReadFile(filepath.Join(bundle, "config.json")); err == nil {
		_ = json.Unmarshal(data, s) // a damaged spec reads as an empty one
	}
	return s
}

func stateToNRI(s runtime.ContainerState) api.ContainerState {
	switch s {
	case runtime.ContainerState_CONTAINER_CREATED:
		return api.ContainerState_CONTAINER_CREATED
	case runtime.ContainerState_CONTAINER_RUNNING:
		return api.ContainerState_CONTAINER_RUNNING
	case runtime.ContainerState_CONTAINER_EXITED:
		return api.ContainerState_CONTAINER_STOPPED
	}
	return api.ContainerState_CONTAINER_UNKNOWN
}
