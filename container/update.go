package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/store"
)

// UpdateResources changes the limits of a created or running container
// (`runc update`) and records them so ContainerStatus reports them.
func (m *Manager) UpdateResources(ctx context.Context, id string, res *runtime.LinuxContainerResources) error {
	if res == nil {
		return fmt.Errorf("no linux resources given: %w", errdefs.ErrInvalidArgument)
	}
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return err
	}
	defer m.locks.Lock(c.ID)()
	if c.State == runtime.ContainerState_CONTAINER_EXITED {
		return fmt.Errorf("container %s has exited: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	oci := cgroups.ToOCI(res, m.cfg.DaemonOOMScoreAdj)
	if err := m.cfg.NRI.UpdateContainer(ctx, c, oci); err != nil {
		return err
	}
	m.cfg.Cgroups.DropUnsupported(oci)
	if c.State == runtime.ContainerState_CONTAINER_CREATED {
		// No runc container before Start: the limits go into the bundle's
		// spec, which `runc create` reads then.
		if err := updateBundleResources(c.Bundle, oci); err != nil {
			return fmt.Errorf("update resources of %s: %w", c.ID, err)
		}
	} else if rt, err := m.runtime(c); err != nil {
		return err
	} else if err := rt.Update(ctx, c.ID, oci); err != nil {
		return fmt.Errorf("update resources of %s: %w", c.ID, err)
	}
	c, err = m.cfg.Containers.Update(c.ID, func(r *store.Container) error {
		r.Resources = res
		return nil
	})
	if err != nil {
		return err
	}
	m.cfg.NRI.PostUpdateContainer(ctx, c)
	return nil
}

// updateBundleResources replaces the limits in bundle/config.json;
// MergeResources keeps the spec's device rules.
func updateBundleResources(bundle string, res *specs.LinuxResources) error {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	spec.MergeResources(&s, res)
	if data, err = json.Marshal(&s); err != nil {
		return err
	}
	return store.WriteFileAtomic(path, data, 0o600)
}

// ReopenLog makes the shim reopen the container's log file after kubelet
// rotated it.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	c, err := m.cfg.Containers.Get(id)
	if err != nil {
		return err
	}
	if c.State != runtime.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	rt, err := m.runtime(c)
	if err != nil {
		return err
	}
	return rt.ReopenLog(ctx, c.ID)
}
