package container

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/metrics"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
	"github.com/krill-runtime/krill/undo"
)

// Create makes a container in pod podID, ready to start. Like
// sandbox.Run, each step has an undo that runs when a later step fails,
// and the record is written last.
func (m *Manager) Create(ctx context.Context, podID string, cfg *runtime.ContainerConfig) (_ string, err error) {
	if cfg.GetMetadata() == nil || cfg.Metadata.Name == "" {
		return "", fmt.Errorf("container config needs metadata with a name: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return "", fmt.Errorf("container config needs an image: %w", errdefs.ErrInvalidArgument)
	}
	// Held until the record is written: a concurrent RemovePodSandbox
	// waits, and then finds this container to remove.
	pod, release, err := m.cfg.Sandboxes.Use(podID)
	if err != nil {
		return "", err
	}
	defer release()
	if err := m.checkPIDTarget(pod.ID, cfg); err != nil {
		return "", err
	}
	img, err := m.cfg.Images.Get(ctx, cfg.Image.Image)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", cfg.Image.Image, err)
	}
	stopSignal, err := stopSignalOf(cfg.GetStopSignal(), img.Config.StopSignal)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", cfg.Image.Image, err)
	}

	start := time.Now()
	// id is a local, not the named result: a failing `return "", err` would
	// otherwise blank it before the undo steps below, which use it, run.
	id := store.NewID()
	key := nameKey(pod.ID, cfg.Metadata)
	if err := m.names.Reserve(key, id); err != nil {
		return "", err
	}
	cleanup := undo.New(m.cfg.Log.With("container", id, "pod", pod.ID), sandbox.CleanupTimeout)
	defer func() {
		if err != nil {
			cleanup.Run(ctx)
			m.names.Release(key, id)
		}
	}()

	// 1. Rootfs: a writable overlay snapshot of the image.
	bundle := m.bundle(id)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return "", err
	}
	if err := sandbox.ShareWithUserns(pod.Config, bundle, rootfs); err != nil {
		return "", err
	}
	cleanup.Add("remove bundle", func(context.Context) error { return os.RemoveAll(bundle) })
	mounts, err := m.cfg.Images.PrepareRootfs(ctx, id, img.ID, false)
	if err != nil {
		return "", fmt.Errorf("prepare rootfs: %w", err)
	}
	cleanup.Add("remove rootfs snapshot", func(ctx context.Context) error { return m.cfg.Images.RemoveRootfs(ctx, id) })
	if userns, _ := spec.PodUserns(pod.Config); userns != nil {
		if err := idmapRootfs(mounts, userns); err != nil {
			return "", err
		}
	}
	if err := mount.All(mounts, rootfs); err != nil {
		return "", fmt.Errorf("mount rootfs: %w", err)
	}
	cleanup.Add("unmount rootfs", func(context.Context) error { return m.unmountAll(rootfs) })
	var steps store.Steps
	steps.Since("rootfs", start)

	// Image volumes become binds of read-only snapshots. cfg is a copy:
	// the record keeps the rewritten mounts, the caller's message is left alone.
	cfg = proto.Clone(cfg).(*runtime.ContainerConfig)
	cleanup.Add("unmount image volumes", func(ctx context.Context) error { return m.unmountImageVolumes(ctx, id) })
	if err := m.mountImageVolumes(ctx, id, cfg); err != nil {
		return "", err
	}

	// 2. The OCI spec, with limits. It names pause's namespaces by pid:
	// pause must still be the process holding it.
	if err := sandbox.CheckPause(pod); err != nil {
		return "", err
	}
	t := time.Now()
	hostname, hosts, resolv, shm := m.cfg.Sandboxes.HostFiles(pod)
	cgroupsPath := m.cfg.Cgroups.ContainerPath(pod.CgroupParent, id)
	s, err := spec.Generate(spec.Input{
		ID:                 id,
		Config:             cfg,
		Sandbox:            pod.Config,
		Image:              img.Config,
		Rootfs:             rootfs,
		Namespaces:         m.namespaces(pod, cfg),
		HostnamePath:       hostname,
		HostsPath:          hosts,
		ResolvConfPath:     resolv,
		ShmPath:            shm,
		CgroupsPath:        cgroupsPath,
		DaemonOOMScoreAdj:  m.cfg.DaemonOOMScoreAdj,
		AllowedAnnotations: m.cfg.AllowedAnnotations,
		UnifiedCgroups:     m.cfg.Cgroups.Mode() == cgroups.ModeV2,
		AppArmor:           m.cfg.AppArmor,
	})
	if err != nil {
		return "", err
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations["io.kubernetes.cri.sandbox-id"] = pod.ID
	spec.MergeResources(s, cgroups.ToOCI(cfg.GetLinux().GetResources(), m.cfg.DaemonOOMScoreAdj))
	if err := m.injectCDI(s, cfg); err != nil {
		return "", err
	}
	// NRI plugins adjust the spec before runc sees it. Their registration
	// waits until the record is stored, so none misses this container.
	unblockNRI := m.cfg.NRI.BlockSync()
	defer unblockNRI()
	draft := store.Container{ID: id, PodID: pod.ID, Config: cfg, State: runtime.ContainerState_CONTAINER_CREATED, CgroupsPath: cgroupsPath, Bundle: bundle}
	resources, cgroupsPath, err := m.adjustByNRI(ctx, pod, draft, s, cleanup)
	if err != nil {
		return "", err
	}
	// kubelet always sends a hugepage limit; runc fails on hosts without
	// the hugetlb controller (this one's v1 side has none), so limits the
	// host cannot enforce are dropped, and said so.
	if dropped := m.cfg.Cgroups.DropUnsupported(s.Linux.Resources); len(dropped) > 0 {
		m.cfg.Log.Debug("limits the host cannot enforce dropped", "container", id, "limits", dropped)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return "", err
	}

	steps.Since("spec", t)

	// 3. The log path. The shim and `runc create` wait for Start, as in
	// containerd: a command that cannot be run, or a working directory
	// that cannot be entered, is a start error kubelet reports as such.
	logPath, err := containerLogPath(pod.Config.GetLogDirectory(), cfg.GetLogPath())
	if err != nil {
		return "", err
	}

	// 4. The record.
	ref := img.ID
	if len(img.RepoDigests) > 0 {
		ref = img.RepoDigests[0]
	}
	c := store.Container{
		ID: id, PodID: pod.ID, Config: cfg, Runtime: pod.Runtime,
		State:       runtime.ContainerState_CONTAINER_CREATED,
		ImageID:     img.ID,
		ImageRef:    ref,
		ImageName:   cfg.Image.Image,
		CreatedAt:   time.Now().UnixNano(),
		LogPath:     logPath,
		Resources:   resources,
		CgroupsPath: cgroupsPath,
		User:        containerUser(s.Process.User),
		StopSignal:  stopSignal,
		Bundle:      bundle,
		CreateSteps: steps,
	}
	if err := m.cfg.Containers.Put(c); err != nil {
		return "", err
	}
	for _, st := range steps {
		metrics.ObserveStep(st.Name, st.Duration)
	}
	m.exited.Store(id, make(chan struct{}))
	m.emit(c, runtime.ContainerEventType_CONTAINER_CREATED_EVENT)
	m.cfg.NRI.PostCreateContainer(ctx, c)
	m.cfg.Log.Info("container created", append([]any{"container", id, "pod", pod.ID, "name", cfg.Metadata.Name,
		"took", time.Since(start).Round(time.Millisecond)}, steps.LogAttrs()...)...)
	return id, nil
}

// adjustByNRI hands the spec to NRI plugins, which may change it, and
// returns the limits and cgroup path it then holds. If the create fails
// from here on, plugins are told to forget the container.
func (m *Manager) adjustByNRI(ctx context.Context, pod store.Pod, draft store.Container, s *specs.Spec, cleanup *undo.List) (*runtime.LinuxContainerResources, string, error) {
	cleanup.Add("tell NRI plugins to forget the container", func(ctx context.Context) error {
		m.cfg.NRI.RemoveContainer(ctx, draft)
		return nil
	})
	adjusted, err := m.cfg.NRI.CreateContainer(ctx, pod, draft, s)
	if err != nil {
		return nil, "", err
	}
	res := draft.Config.GetLinux().GetResources()
	if adjusted {
		res = m.cfg.Cgroups.FromOCI(s.Linux.Resources)
	}
	return res, s.Linux.CgroupsPath, nil
}

// namespaces returns the namespace files a container of pod joins: the
// pod's netns, and pause's IPC, UTS, user (when the pod has one) and (when
// shared) PID namespaces.
func (m *Manager) namespaces(pod store.Pod, cfg *runtime.ContainerConfig) spec.Namespaces {
	podNS := pod.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	var ns spec.Namespaces
	if podNS.GetNetwork() != runtime.NamespaceMode_NODE {
		ns.NetNS = pod.NetNS
		ns.UTS = sandbox.NamespacePath(pod, "uts")
	}
	if podNS.GetIpc() != runtime.NamespaceMode_NODE {
		ns.IPC = sandbox.NamespacePath(pod, "ipc")
	}
	if userns, _ := spec.PodUserns(pod.Config); userns != nil {
		ns.User = sandbox.NamespacePath(pod, "user")
	}
	cNS := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	switch cNS.GetPid() {
	case runtime.NamespaceMode_POD:
		ns.PID = sandbox.NamespacePath(pod, "pid")
	case runtime.NamespaceMode_TARGET:
		if t, err := m.cfg.Containers.Get(cNS.GetTargetId()); err == nil && t.Pid > 0 {
			ns.PID = fmt.Sprintf("/proc/%d/ns/pid", t.Pid)
		}
	}
	return ns
}

// containerUser is the resolved identity ContainerStatus reports (critest's
// supplemental-groups specs read it).
func containerUser(u specs.User) *runtime.ContainerUser {
	lu := &runtime.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID)}
	for _, g := range u.AdditionalGids {
		lu.SupplementalGroups = append(lu.SupplementalGroups, int64(g))
	}
	return &runtime.ContainerUser{Linux: lu}
}
