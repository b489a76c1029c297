package container

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Status returns a container's CRI status, with verbose info when asked.
func (m *Manager) Status(ctx context.Context, id string, verbose bool) (*runtime.ContainerStatus, map[string]string, error) {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return nil, nil, err
	}
	st := toStatus(c)
	if !verbose {
		return st, nil, nil
	}
	info, err := m.verboseInfo(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return st, map[string]string{"info": info}, nil
}

func toStatus(c store.Container) *runtime.ContainerStatus {
	st := &runtime.ContainerStatus{
		Id:          c.ID,
		Metadata:    c.Config.GetMetadata(),
		State:       c.State,
		CreatedAt:   c.CreatedAt,
		StartedAt:   c.StartedAt,
		FinishedAt:  c.FinishedAt,
		ExitCode:    c.ExitCode,
		Image:       &runtime.ImageSpec{Image: c.ImageName, Annotations: c.Config.GetImage().GetAnnotations(), UserSpecifiedImage: c.Config.GetImage().GetUserSpecifiedImage()},
		ImageRef:    c.ImageRef,
		ImageId:     c.ImageID,
		Reason:      c.Reason,
		Message:     c.Message,
		Labels:      c.Config.GetLabels(),
		Annotations: c.Config.GetAnnotations(),
		Mounts:      c.Config.GetMounts(),
		LogPath:     c.LogPath,
		User:        c.User,
		StopSignal:  criSignal(c.StopSignal),
	}
	if st.StopSignal == runtime.Signal(0) { // a record from before stop signals were kept
		st.StopSignal = criSignal("SIGTERM")
	}
	if c.Resources != nil {
		st.Resources = &runtime.ContainerResources{Linux: c.Resources}
	}
	return st
}

// List returns the containers matching f.
func (m *Manager) List(f *runtime.ContainerFilter) []*runtime.Container {
	var out []*runtime.Container
	for _, c := range m.cfg.Containers.List() {
		if f != nil {
			if !store.MatchID(c.ID, f.Id) || !store.MatchID(c.PodID, f.PodSandboxId) {
				continue
			}
			if f.State != nil && f.State.State != c.State {
				continue
			}
			if !store.MatchLabels(c.Config.GetLabels(), f.LabelSelector) {
				continue
			}
		}
		out = append(out, toContainer(c))
	}
	return out
}

func toContainer(c store.Container) *runtime.Container {
	return &runtime.Container{
		Id:           c.ID,
		PodSandboxId: c.PodID,
		Metadata:     c.Config.GetMetadata(),
		Image:        &runtime.ImageSpec{Image: c.ImageName},
		ImageRef:     c.ImageRef,
		ImageId:      c.ImageID,
		State:        c.State,
		CreatedAt:    c.CreatedAt,
		Labels:       c.Config.GetLabels(),
		Annotations:  c.Config.GetAnnotations(),
	}
}
