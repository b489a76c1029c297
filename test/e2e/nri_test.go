package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// nriPlugin is a small NRI plugin (on NRI's stub library) that records
// the events it gets and answers CreateContainer with adjust's result.
type nriPlugin struct {
	adjust func(*api.Container) *api.ContainerAdjustment
	// hang makes CreateContainer wait until the test ends: a hung plugin.
	hang chan struct{}

	stub   stub.Stub
	closed chan struct{} // closed when krilld drops the connection
	ready  chan struct{} // closed when krilld synchronised the plugin

	mu     sync.Mutex
	events []string // "Event <pod or container ID>"
	synced []string // pod and container IDs the plugin got at registration
}

// startNRIPlugin connects p to krilld's NRI socket and waits until it is
// synchronised: from then on krilld sends it every event (a creation
// racing the synchronisation waits for it to finish).
func startNRIPlugin(t *testing.T, socket, name string, p *nriPlugin) *nriPlugin {
	t.Helper()
	p.closed, p.ready = make(chan struct{}), make(chan struct{})
	s, err := stub.New(p, stub.WithPluginName(name), stub.WithPluginIdx("50"), stub.WithSocketPath(socket),
		stub.WithOnClose(func() { close(p.closed) }))
	if err != nil {
		t.Fatal(err)
	}
	p.stub = s
	// The stub serves krilld's requests under Start's context for as long
	// as it runs: a context that ends would cancel them all.
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start NRI plugin %s: %v", name, err)
	}
	t.Cleanup(func() {
		if p.hang != nil {
			close(p.hang)
		}
		s.Stop()
	})
	select {
	case <-p.ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("NRI plugin %s was not synchronised", name)
	}
	return p
}

func (p *nriPlugin) record(event, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, event+" "+id)
}

// eventsOf returns the events about one pod or container, in order.
func (p *nriPlugin) eventsOf(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		if ev, eid, _ := strings.Cut(e, " "); eid == id {
			out = append(out, ev)
		}
	}
	return out
}

func (p *nriPlugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pod := range pods {
		p.synced = append(p.synced, pod.GetId())
	}
	for _, c := range ctrs {
		p.synced = append(p.synced, c.GetId())
	}
	close(p.ready)
	return nil, nil
}

func (p *nriPlugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RunPodSandbox", pod.GetId())
	return nil
}

func (p *nriPlugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("StopPodSandbox", pod.GetId())
	return nil
}

func (p *nriPlugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RemovePodSandbox", pod.GetId())
	return nil
}

func (p *nriPlugin) CreateContainer(ctx context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer", c.GetId())
	if p.hang != nil {
		select {
		case <-p.hang:
		case <-ctx.Done():
		}
		return nil, nil, nil
	}
	if p.adjust == nil {
		return nil, nil, nil
	}
	return p.adjust(c), nil, nil
}

func (p *nriPlugin) PostCreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostCreateContainer", c.GetId())
	return nil
}

func (p *nriPlugin) StartContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("StartContainer", c.GetId())
	return nil
}

func (p *nriPlugin) PostStartContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostStartContainer", c.GetId())
	return nil
}

func (p *nriPlugin) UpdateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container, _ *api.LinuxResources) ([]*api.ContainerUpdate, error) {
	p.record("UpdateContainer", c.GetId())
	return nil, nil
}

func (p *nriPlugin) PostUpdateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("PostUpdateContainer", c.GetId())
	return nil
}

func (p *nriPlugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer", c.GetId())
	return nil, nil
}

func (p *nriPlugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("RemoveContainer", c.GetId())
	return nil
}

// memoryLimit reads a container's memory limit from its v1 cgroup on the
// host (the pod's cgroup parent from env.pod, plus the container ID).
func memoryLimit(t *testing.T, pod, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/krill-e2e", pod, id, "memory.limit_in_bytes"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestNRIAdjustsAndUpdatesContainer: a plugin's adjustment at
// CreateContainer (env, annotation, memory limit, an oom_score_adj below
// krilld's) reaches the real container, the OOM score clamped; an update
// the plugin sends on its own changes the running container's cgroup; the
// plugin sees every lifecycle event in order.
func TestNRIAdjustsAndUpdatesContainer(t *testing.T) {
	e := newEnv(t)
	p := startNRIPlugin(t, e.nriSocket(), "krill-adjust", &nriPlugin{
		adjust: func(*api.Container) *api.ContainerAdjustment {
			a := &api.ContainerAdjustment{}
			a.AddEnv("KRILL_NRI", "adjusted")
			a.AddAnnotation("krill.test/nri", "yes")
			a.SetLinuxMemoryLimit(64 << 20)
			low := -999
			a.SetLinuxOomScoreAdj(&low)
			return a
		},
	})
	podID, podCfg := e.pod("nri")
	id := e.container(podID, podCfg, "adjusted", []string{"sleep", "3600"})

	if got := e.exec(id, "sh", "-c", "echo $KRILL_NRI"); got != "adjusted" {
		t.Errorf("KRILL_NRI in the container = %q, want adjusted", got)
	}
	if got := memoryLimit(t, "nri", id); got != "67108864" {
		t.Errorf("memory.limit_in_bytes = %s, want 67108864 (64 MiB from the plugin)", got)
	}
	var s specs.Spec
	data, err := os.ReadFile(filepath.Join(e.dir, "state", "containers", id, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Annotations["krill.test/nri"] != "yes" {
		t.Errorf("annotations given to runc = %v, want krill.test/nri=yes", s.Annotations)
	}
	daemonAdj, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", e.d.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.exec(id, "cat", "/proc/1/oom_score_adj"); got != strings.TrimSpace(string(daemonAdj)) {
		t.Errorf("oom_score_adj = %s, want krilld's %s (the plugin's -999 clamped)", got, daemonAdj)
	}

	// An unsolicited update: the plugin changes the running container.
	failed, err := p.stub.UpdateContainers([]*api.ContainerUpdate{{
		ContainerId: id,
		Linux:       &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Memory: &api.LinuxMemory{Limit: api.Int64(96 << 20)}}},
	}})
	if err != nil || len(failed) > 0 {
		t.Fatalf("UpdateContainers: failed %v, err %v", failed, err)
	}
	if got := memoryLimit(t, "nri", id); got != "100663296" {
		t.Errorf("after the plugin's update memory.limit_in_bytes = %s, want 100663296", got)
	}
	if got := e.status(id).GetResources().GetLinux().GetMemoryLimitInBytes(); got != 96<<20 {
		t.Errorf("ContainerStatus memory limit = %d, want %d", got, 96<<20)
	}

	if _, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	want := []string{"CreateContainer", "PostCreateContainer", "StartContainer", "PostStartContainer", "StopContainer", "RemoveContainer"}
	if got := p.eventsOf(id); !slices.Equal(got, want) {
		t.Errorf("container events = %v, want %v", got, want)
	}
	want = []string{"RunPodSandbox", "StopPodSandbox", "RemovePodSandbox"}
	if got := p.eventsOf(podID); !slices.Equal(got, want) {
		t.Errorf("pod events = %v, want %v", got, want)
	}
}

// TestNRIHungPluginTimesOut: a plugin that never answers CreateContainer
// holds the container only for the request timeout (2s by default); then
// krilld drops it, says so in its log with the plugin's name, and the
// container is created and runs.
func TestNRIHungPluginTimesOut(t *testing.T) {
	e := newEnv(t)
	p := startNRIPlugin(t, e.nriSocket(), "krill-hung", &nriPlugin{hang: make(chan struct{})})
	podID, podCfg := e.pod("nrihung")
	start := time.Now()
	id := e.container(podID, podCfg, "waits", []string{"sleep", "3600"})
	t.Logf("create+start with a hung plugin took %s", time.Since(start).Round(time.Millisecond))
	if st := e.status(id).State; st != runtime.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container is %s, want running", st)
	}
	if got := p.eventsOf(id); len(got) == 0 || got[0] != "CreateContainer" {
		t.Errorf("the hung plugin got %v, want CreateContainer first", got)
	}
	select {
	case <-p.closed:
	case <-time.After(10 * time.Second):
		t.Error("krilld did not disconnect the hung plugin")
	}
	if !testregistry.WaitFor(5*time.Second, func() bool { return strings.Contains(e.log(), "closing plugin 50-krill-hung") }) {
		t.Errorf("krilld's log does not name the hung plugin:\n%s", tail(e.log(), 30))
	}
}

// TestNRIRefusesNamespaceAdjustment: a plugin may not move a container
// into the host's network namespace; the create fails with
// FailedPrecondition and leaves no container behind.
func TestNRIRefusesNamespaceAdjustment(t *testing.T) {
	e := newEnv(t)
	startNRIPlugin(t, e.nriSocket(), "krill-hostnet", &nriPlugin{
		adjust: func(*api.Container) *api.ContainerAdjustment {
			a := &api.ContainerAdjustment{}
			a.RemoveNamespace(&api.LinuxNamespace{Type: "network"})
			return a
		},
	})
	podID, podCfg := e.pod("nrins")
	_, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: podCfg,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "hostnet"},
			Image:    &runtime.ImageSpec{Image: e.image},
			Command:  []string{"sleep", "3600"},
		},
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("create with a namespace adjustment: %v, want FailedPrecondition", err)
	}
	list, err := e.rt.ListContainers(e.ctx(), &runtime.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Containers) != 0 {
		t.Errorf("containers left after the refused create: %v", list.Containers)
	}
}

// TestNRISyncAfterRestart: a plugin that registers after a krilld restart
// is told about the pod and container made before it.
func TestNRISyncAfterRestart(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("nrisync")
	id := e.container(podID, podCfg, "survivor", []string{"sleep", "3600"})
	e.kill()
	e.start()
	p := startNRIPlugin(t, e.nriSocket(), "krill-late", &nriPlugin{})
	p.mu.Lock()
	synced := p.synced
	p.mu.Unlock()
	for _, want := range []string{podID, id} {
		if !slices.Contains(synced, want) {
			t.Errorf("plugin synchronised with %v, missing %s", synced, want)
		}
	}
}
