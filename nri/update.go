package nri

import (
	"context"
	"fmt"
	"syscall"

	"github.com/containerd/errdefs"
	nri "github.com/containerd/nri/pkg/adaptation"
	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/runtime-tools/generate"
	"github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/store"
)

// synchronize hands a plugin that just registered every pod and container
// Krill knows (the store survives krilld restarts, so this includes pods
// made before one) and applies the updates it answers with. The
// adaptation holds creations back meanwhile (BlockSync).
func (s *Service) synchronize(ctx context.Context, sync nri.SyncCB) error {
	var pods []*api.PodSandbox
	for _, p := range s.Pods.List() {
		pods = append(pods, s.podToNRI(p))
	}
	var ctrs []*api.Container
	for _, c := range s.Containers.List() {
		ctrs = append(ctrs, containerToNRI(c, nil))
	}
	s.Log.Info("NRI plugin synchronising", "pods", len(pods), "containers", len(ctrs))
	updates, err := sync(ctx, pods, ctrs)
	if err != nil {
		return err
	}
	s.applyUpdates(ctx, updates)
	return nil
}

// updateFromPlugin applies updates a plugin sent on its own (for example
// after rebalancing CPUs) and returns those that failed.
func (s *Service) updateFromPlugin(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	return s.applyUpdates(ctx, updates), nil
}

// applyUpdates changes running containers' resources; failures are logged
// and returned unless the plugin said to ignore them.
func (s *Service) applyUpdates(ctx context.Context, updates []*api.ContainerUpdate) (failed []*api.ContainerUpdate) {
	for _, u := range updates {
		if err := s.applyUpdate(ctx, u); err != nil {
			s.Log.Warn("NRI container update failed", "container", u.GetContainerId(), "err", err)
			if !u.GetIgnoreFailure() {
				failed = append(failed, u)
			}
		}
	}
	return failed
}

// applyUpdate lays the fields a plugin set over the limits in force and
// hands the result to `runc update`, as a CRI UpdateContainerResources
// would, then records it for ContainerStatus. It takes no container lock:
// a plugin may send updates while a lifecycle call that holds one waits
// for that plugin.
func (s *Service) applyUpdate(ctx context.Context, u *api.ContainerUpdate) error {
	c, err := s.Containers.Get(u.GetContainerId())
	if err != nil {
		return err
	}
	if c.State == runtime.ContainerState_CONTAINER_EXITED {
		return fmt.Errorf("container %s has exited: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	spec := &specs.Spec{Linux: &specs.Linux{Resources: cgroups.ToOCI(c.Resources, 0)}}
	if err := generate.SpecGenerator(&specGen{spec}).AdjustResources(u.GetLinux().GetResources()); err != nil {
		return fmt.Errorf("container %s: %v: %w", c.ID, err, errdefs.ErrInvalidArgument)
	}
	res := spec.Linux.Resources
	s.Cgroups.DropUnsupported(res)
	rt, err := s.Runtimes.Get(c.Runtime)
	if err != nil {
		return fmt.Errorf("update container %s: %w", c.ID, err)
	}
	if err := rt.Update(ctx, c.ID, res); err != nil {
		return fmt.Errorf("update container %s: %w", c.ID, err)
	}
	_, err = s.Containers.Update(c.ID, func(r *store.Container) error {
		r.Resources = s.Cgroups.FromOCI(res)
		return nil
	})
	s.Log.Info("NRI updated container resources", "container", c.ID)
	return err
}

// evict kills the containers plugins asked to evict (SIGKILL to every
// process, as containerd's stop with no grace period); the exit is
// recorded by the container's waiter like any other.
func (s *Service) evict(ctx context.Context, evictions []*api.ContainerEviction) {
	for _, e := range evictions {
		c, err := s.Containers.Get(e.GetContainerId())
		if err != nil || c.State == runtime.ContainerState_CONTAINER_EXITED {
			continue
		}
		s.Log.Warn("NRI plugin evicts container", "container", c.ID, "reason", e.GetReason())
		rt, err := s.Runtimes.Get(c.Runtime)
		if err == nil {
			err = rt.Kill(ctx, c.ID, syscall.SIGKILL, true)
		}
		if err != nil && !errdefs.IsNotFound(err) {
			s.Log.Warn("NRI eviction failed", "container", c.ID, "err", err)
		}
	}
}
