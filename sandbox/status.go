package sandbox

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

// Status returns the CRI status of a pod, with verbose info when asked.
// ctrs gives the containers' statuses for the STOPPED event of a pod found
// dead (see refresh).
func (m *Manager) Status(ctx context.Context, id string, verbose bool, ctrs PodContainers) (*runtime.PodSandboxStatus, map[string]string, error) {
	p, err := m.cfg.Pods.Get(id)
	if err != nil {
		return nil, nil, err
	}
	p = m.refresh(p, ctrs)
	st := toStatus(p)
	if !verbose {
		return st, nil, nil
	}
	info, err := m.verboseInfo(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	return st, map[string]string{"info": info}, nil
}

// toStatus is the CRI status of a pod record.
func toStatus(p store.Pod) *runtime.PodSandboxStatus {
	nsOpts := p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	st := &runtime.PodSandboxStatus{
		Id:        p.ID,
		Metadata:  p.Config.GetMetadata(),
		State:     p.State,
		CreatedAt: p.CreatedAt,
		Network:   &runtime.PodSandboxNetworkStatus{Ip: p.IP},
		Linux: &runtime.LinuxPodSandboxStatus{
			Namespaces: &runtime.Namespace{Options: &runtime.NamespaceOption{
				Network:  nsOpts.GetNetwork(),
				Pid:      nsOpts.GetPid(),
				Ipc:      nsOpts.GetIpc(),
				TargetId: nsOpts.GetTargetId(),
			}},
		},
		Labels:         p.Config.GetLabels(),
		Annotations:    p.Config.GetAnnotations(),
		RuntimeHandler: p.Handler,
	}
	for _, ip := range p.AdditionalIPs {
		st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtime.PodIP{Ip: ip})
	}
	return st
}

// refresh marks a pod NOTREADY when its pause process died behind our
// back (killed by hand, OOM): its namespaces are gone with it. That is the
// pod's stop, so subscribers get its STOPPED event (containerd sends one
// when the sandbox exits, whatever the cause).
func (m *Manager) refresh(p store.Pod, ctrs PodContainers) store.Pod {
	if p.State == runtime.PodSandboxState_SANDBOX_READY && !pauseAlive(p) {
		var stopped bool
		np, err := m.cfg.Pods.Update(p.ID, func(r *store.Pod) error {
			stopped = r.State == runtime.PodSandboxState_SANDBOX_READY
			r.State = runtime.PodSandboxState_SANDBOX_NOTREADY
			return nil
		})
		if err != nil {
			return p
		}
		if stopped {
			m.emit(np, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT, ctrs)
		}
		return np
	}
	return p
}

// ListFiltered returns the pods matching f; ctrs as for Status.
func (m *Manager) ListFiltered(f *runtime.PodSandboxFilter, ctrs PodContainers) []*runtime.PodSandbox {
	var out []*runtime.PodSandbox
	for _, p := range m.cfg.Pods.List() {
		p = m.refresh(p, ctrs)
		if f != nil {
			if !store.MatchID(p.ID, f.Id) {
				continue
			}
			if f.State != nil && f.State.State != p.State {
				continue
			}
			if !store.MatchLabels(p.Config.GetLabels(), f.LabelSelector) {
				continue
			}
		}
		out = append(out, &runtime.PodSandbox{
			Id:             p.ID,
			Metadata:       p.Config.GetMetadata(),
			State:          p.State,
			CreatedAt:      p.CreatedAt,
			Labels:         p.Config.GetLabels(),
			Annotations:    p.Config.GetAnnotations(),
			RuntimeHandler: p.Handler,
		})
	}
	return out
}

// Quarantined reports whether pod id's record was unreadable and moved
// aside: its containers are then left alone too.
func (m *Manager) Quarantined(id string) bool { return m.cfg.Pods.Quarantined(id) }
