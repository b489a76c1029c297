package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/metrics"
	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/store"
	"github.com/krill-runtime/krill/undo"
)

// Run creates and starts a pod sandbox and returns its ID. The steps are
// in the order the namespaces depend on each other; undo runs the steps
// already taken backwards when a later one fails.
func (m *Manager) Run(ctx context.Context, cfg *runtime.PodSandboxConfig, handler string) (_ string, err error) {
	if err := validate(cfg); err != nil {
		return "", err
	}
	if err := m.cfg.Cgroups.ValidateParent(cfg.GetLinux().GetCgroupParent()); err != nil {
		return "", err
	}
	// The handler first: a pod asking for gVisor or Kata must not quietly
	// run under runc, and nothing is made before the refusal.
	rtName, err := m.cfg.Runtimes.Resolve(handler)
	if err != nil {
		return "", err
	}
	userns, err := spec.PodUserns(cfg)
	if err != nil {
		return "", err
	}
	if userns != nil {
		if err := m.checkUserns(ctx, rtName); err != nil {
			return "", err
		}
	}
	start := time.Now()
	// id is a local, not the named result: a failing `return "", err` would
	// otherwise blank it before the undo steps below, which use it, run.
	id := store.NewID()
	key := nameKey(cfg.Metadata)
	if err := m.names.Reserve(key, id); err != nil {
		return "", err
	}
	cleanup := undo.New(m.cfg.Log.With("pod", id), CleanupTimeout)
	defer func() {
		if err != nil {
			cleanup.Run(ctx)
			m.names.Release(key, id)
		}
	}()

	pod := store.Pod{
		ID:           id,
		Config:       cfg,
		State:        runtime.PodSandboxState_SANDBOX_READY,
		CreatedAt:    time.Now().UnixNano(),
		Handler:      handler,
		Runtime:      rtName,
		CgroupParent: cfg.GetLinux().GetCgroupParent(),
	}
	nsOpts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	hostNet := nsOpts.GetNetwork() == runtime.NamespaceMode_NODE
	if err := spec.ValidateSysctls(cfg.GetLinux().GetSysctls(), hostNet, nsOpts.GetIpc() == runtime.NamespaceMode_NODE); err != nil {
		return "", err
	}
	if err := validateHostname(cfg.GetHostname(), hostNet); err != nil {
		return "", err
	}

	// 1. The pause image first: if it is missing nothing else is worth doing.
	pause, err := m.cfg.Images.EnsurePauseImage(ctx)
	if err != nil {
		return "", fmt.Errorf("pause image: %w", err)
	}
	pod.PauseImageID = pause.ID
	var steps store.Steps
	steps.Since("image", start)

	// netLeft: the network could not be torn down by the undo steps.
	var netLeft bool

	// 2. The network namespace: empty until CNI fills it, but it already
	// exists, which is all the pause container needs to join it.
	if !hostNet {
		t := time.Now()
		netns, err := m.cfg.Network.CreateNetNS(id)
		if err != nil {
			return "", fmt.Errorf("create netns for pod %s: %w", id, err)
		}
		cleanup.Add("remove netns", func(context.Context) error {
			// Kept when CNI DEL kept failing: the next krilld start finds
			// the netns without a record and tries DEL again (Recover).
			if netLeft {
				return nil
			}
			return m.cfg.Network.RemoveNetNS(netns)
		})
		pod.NetNS = netns
		steps.Since("netns", t)
	}

	// The pod directory holds the pause bundle from step 3 on; removed
	// last, once pause's rootfs is unmounted.
	cleanup.Add("remove pod files", func(context.Context) error { return m.removePodFiles(id) })

	// 3. CNI and the pause container at the same time: neither needs the
	// other (pause only joins the netns by path), and each costs about
	// 100 ms, so doing them side by side nearly halves RunPodSandbox.
	var (
		netRes  *network.Result
		netErr  error
		netDone = make(chan struct{})
		pn      = podNetwork(pod)
	)
	var netTook time.Duration
	go func() {
		defer close(netDone)
		if !hostNet {
			t := time.Now()
			netRes, netErr = m.cfg.Network.Setup(ctx, pn)
			netTook = time.Since(t)
		}
	}()
	t := time.Now()
	pid, pauseErr := m.startPause(ctx, pod, pause)
	pauseTook := time.Since(t)
	<-netDone
	if !hostNet {
		// Also after a failed ADD: Setup undoes its own attempt, but that
		// DEL may have failed too, leaving the intent file and an IP that
		// no record owns. Teardown is idempotent.
		cleanup.Add("tear down network", func(ctx context.Context) error {
			var err error
			for try := 0; try < 3; try++ {
				if err = m.cfg.Network.Teardown(ctx, pn); err == nil {
					return nil
				}
			}
			netLeft = true
			return fmt.Errorf("%w (netns kept; tried again at the next start)", err)
		})
	}
	if netErr == nil && !hostNet {
		pod.IP, pod.AdditionalIPs, pod.NetworkReady = netRes.IP, netRes.AdditionalIPs, true
	}
	if pauseErr == nil {
		cleanup.Add("remove pause", func(ctx context.Context) error {
			if !m.removePause(ctx, pod) {
				return errors.New("not all of it (see the warnings above)")
			}
			return nil
		})
		pod.PausePid = pid
		if start, ok := startTime(pid); ok {
			pod.PauseStartTime = start
		} else {
			pauseErr = fmt.Errorf("pause container of pod %s exited at once: %w", id, errdefs.ErrUnknown)
		}
	}
	if netErr != nil {
		return "", fmt.Errorf("set up network for pod %s: %w", id, netErr)
	}
	if pauseErr != nil {
		return "", pauseErr
	}
	if !hostNet {
		steps.Add("cni", netTook)
	}
	steps.Add("pause", pauseTook)

	// 4. The pod's files (/etc/hosts names the pod IP, so after CNI).
	t = time.Now()
	if err := m.writePodFiles(pod); err != nil {
		return "", fmt.Errorf("pod files: %w", err)
	}
	steps.Since("files", t)

	// 5. NRI plugins see the pod (and may veto it) before anyone else can.
	unblockNRI := m.cfg.NRI.BlockSync()
	defer unblockNRI()
	if err := m.cfg.NRI.RunPodSandbox(ctx, pod); err != nil {
		return "", err
	}

	// 6. The record: from now on the pod exists.
	pod.StartSteps = steps
	if err := m.cfg.Pods.Put(pod); err != nil {
		return "", fmt.Errorf("record pod %s: %w", id, err)
	}
	for _, st := range steps {
		metrics.ObserveStep(st.Name, st.Duration)
	}
	// No container can exist yet: creates need the record just written.
	m.emit(pod, runtime.ContainerEventType_CONTAINER_CREATED_EVENT, nil)
	m.emit(pod, runtime.ContainerEventType_CONTAINER_STARTED_EVENT, nil)
	m.cfg.Log.Info("pod running", append([]any{"pod", id, "name", cfg.Metadata.Name, "ip", pod.IP, "took", since(start)}, steps.LogAttrs()...)...)
	return id, nil
}

func validate(cfg *runtime.PodSandboxConfig) error {
	md := cfg.GetMetadata()
	if md == nil {
		return fmt.Errorf("pod sandbox config has no metadata: %w", errdefs.ErrInvalidArgument)
	}
	if md.Name == "" || md.Namespace == "" || md.Uid == "" {
		return fmt.Errorf("pod metadata needs name, namespace and uid (got %q, %q, %q): %w",
			md.Name, md.Namespace, md.Uid, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validateHostname refuses a host-network pod that asks for a hostname of
// its own: it shares the node's UTS namespace, so the name would be the
// node's (containerd fails the same pod in runc, "unable to set hostname
// without a new UTS namespace"). kubelet sends no hostname for such pods;
// the node's own name changes nothing and is accepted.
func validateHostname(hostname string, hostNet bool) error {
	if !hostNet || hostname == "" {
		return nil
	}
	node, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("read node hostname: %w", err)
	}
	if hostname != node {
		return fmt.Errorf("host-network pod asks for hostname %q, which would rename the node %q: %w",
			hostname, node, errdefs.ErrInvalidArgument)
	}
	return nil
}

func podNetwork(p store.Pod) network.PodNetwork {
	md := p.Config.GetMetadata()
	return network.PodNetwork{
		ID:           p.ID,
		Name:         md.GetName(),
		Namespace:    md.GetNamespace(),
		UID:          md.GetUid(),
		NetNS:        p.NetNS,
		PortMappings: p.Config.GetPortMappings(),
		CgroupParent: p.CgroupParent,
	}
}
