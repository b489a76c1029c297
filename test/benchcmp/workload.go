package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// workload is what one round asks of one CRI endpoint, and where it can
// see the runtime's processes.
type workload struct {
	Endpoint   string // unix socket path or unix:// URL
	Image      string // the container image (pulled before measuring)
	PauseImage string // pulled before measuring too, when set
	// Cgroup is a cgroupfs path (e.g. /krill-bench/krill) that holds the
	// runtime's whole process tree: the daemon was started in its cpuacct
	// cgroup, so its shims, runc and CNI plugins are in it too, and each
	// pod gets Cgroup/<pod name> as its cgroup parent, so the pods' pause
	// and container processes are below it. "": pods get the runtime's
	// default parent and there are no CPU or memory figures.
	Cgroup string
	// DaemonPID is the runtime daemon: the processes directly in Cgroup
	// other than it are the shims it added for the pods.
	DaemonPID int
	LogDir    string // pod log directories are made below it
	Tag       string // makes pod names unique across rounds

	Sequential int           // pods run one after another through a full lifecycle
	Bursts     int           // bursts of BurstSize pods started at once
	BurstSize  int           //
	Kept       int           // pods kept running for the stats, memory and idle figures
	StatsCalls int           // ListContainerStats calls with Kept pods
	Idle       time.Duration // how long the idle CPU is measured
	RPCTimeout time.Duration

	rt  runtime.RuntimeServiceClient
	img runtime.ImageServiceClient
}

// result holds one round's figures for one runtime: times in ms, memory in
// MiB, CPU in ms per pod or % of one CPU.
type result struct {
	Runtime string
	Round   int

	ReadyP50     float64            // RunPodSandbox start -> StartContainer done
	LifecycleP50 float64            // run, create, start, stop, remove container, stop, remove pod
	RPCP50       map[string]float64 // per RPC, over the sequential pods
	Bursts       []float64          // each burst: all BurstSize pods running
	CPUPerPod    float64            // host CPU of the runtime's tree per sequential lifecycle
	ShimPSS      float64            // per kept pod
	InfraPSS     float64            // per kept pod (pause or whatever the runtime runs per pod besides the container)
	StatsP50     float64            // ListContainerStats with Kept pods
	IdleCPU      float64            // % of one CPU with Kept pods, nothing asked
}

func (w *workload) dial() (*grpc.ClientConn, error) {
	addr := w.Endpoint
	if !strings.HasPrefix(addr, "unix://") {
		addr = "unix://" + addr
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	w.rt = runtime.NewRuntimeServiceClient(conn)
	w.img = runtime.NewImageServiceClient(conn)
	return conn, nil
}

func (w *workload) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), w.RPCTimeout)
}

// prepare waits for the endpoint to answer and pulls the images, so no
// pull is measured.
func (w *workload) prepare() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := w.ctx()
		_, err := w.rt.Version(ctx, &runtime.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer: %w", w.Endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, ref := range []string{w.PauseImage, w.Image} {
		if ref == "" {
			continue
		}
		ctx, cancel := w.ctx()
		_, err := w.img.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
		cancel()
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	return nil
}

// pod is one pod of the workload, with its one container.
type pod struct {
	name   string
	cfg    *runtime.PodSandboxConfig
	id     string
	ctrID  string
	timing map[string]time.Duration
}

func (w *workload) newPod(name string) *pod {
	name = w.Tag + "-" + name
	logDir := filepath.Join(w.LogDir, name)
	os.MkdirAll(logDir, 0o755) // kubelet makes the pod's log directory, not the runtime
	cfg := &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name + "-uid"},
		Hostname:     name,
		LogDirectory: logDir,
		Linux:        &runtime.LinuxPodSandboxConfig{},
	}
	if w.Cgroup != "" {
		cfg.Linux.CgroupParent = w.Cgroup + "/" + name
	}
	return &pod{name: name, cfg: cfg, timing: map[string]time.Duration{}}
}

// timed runs call and records how long it took under name.
func (p *pod) timed(w *workload, name string, call func(context.Context) error) error {
	ctx, cancel := w.ctx()
	defer cancel()
	t0 := time.Now()
	err := call(ctx)
	p.timing[name] = time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, p.name, err)
	}
	return nil
}

// start runs the pod and starts its container: sleep, which SIGTERM ends
// at once (pods share one PID namespace by default, so it is not PID 1,
// which ignores signals it has no handler for), as a well-behaved
// workload ends when kubelet stops it.
func (w *workload) start(p *pod) error {
	err := p.timed(w, "RunPodSandbox", func(ctx context.Context) error {
		r, err := w.rt.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: p.cfg})
		if err == nil {
			p.id = r.PodSandboxId
		}
		return err
	})
	if err != nil {
		return err
	}
	err = p.timed(w, "CreateContainer", func(ctx context.Context) error {
		r, err := w.rt.CreateContainer(ctx, &runtime.CreateContainerRequest{
			PodSandboxId:  p.id,
			SandboxConfig: p.cfg,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: "sleep"},
				Image:    &runtime.ImageSpec{Image: w.Image},
				Command:  []string{"sleep", "3600"},
				LogPath:  "sleep.log",
				Linux:    &runtime.LinuxContainerConfig{},
			},
		})
		if err == nil {
			p.ctrID = r.ContainerId
		}
		return err
	})
	if err != nil {
		return err
	}
	return p.timed(w, "StartContainer", func(ctx context.Context) error {
		_, err := w.rt.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: p.ctrID})
		return err
	})
}

// stop takes the pod down the way kubelet does: container first, then
// the sandbox.
func (w *workload) stop(p *pod) error {
	steps := []struct {
		name string
		call func(context.Context) error
	}{
		{"StopContainer", func(ctx context.Context) error {
			_, err := w.rt.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: p.ctrID, Timeout: 10})
			return err
		}},
		{"RemoveContainer", func(ctx context.Context) error {
			_, err := w.rt.RemoveContainer(ctx, &runtime.RemoveContainerRequest{ContainerId: p.ctrID})
			return err
		}},
		{"StopPodSandbox", func(ctx context.Context) error {
			_, err := w.rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.id})
			return err
		}},
		{"RemovePodSandbox", func(ctx context.Context) error {
			_, err := w.rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.id})
			return err
		}},
	}
	for _, s := range steps {
		if p.ctrID == "" && strings.HasSuffix(s.name, "Container") {
			continue // its start failed before the container was made
		}
		if err := p.timed(w, s.name, s.call); err != nil {
			return err
		}
	}
	return nil
}

// startAll starts pods concurrently and returns when all are running (or
// the first error).
func (w *workload) startAll(pods []*pod) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.start(p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// stopAll takes pods down, a few at a time (not measured).
func (w *workload) stopAll(pods []*pod) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 4)
	for _, p := range pods {
		if p.id == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := w.stop(p); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
