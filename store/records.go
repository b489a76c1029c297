package store

import (
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Pod is the record of one pod sandbox.
type Pod struct {
	ID        string                    `json:"id"`
	Config    *runtime.PodSandboxConfig `json:"config"`
	State     runtime.PodSandboxState   `json:"state"`
	CreatedAt int64                     `json:"created_at"` // unix nanoseconds
	// Handler is the RuntimeClass handler asked for ("" = default), as
	// PodSandboxStatus reports it.
	Handler string `json:"runtime_handler,omitempty"`
	// Runtime is the configured handler the pod and all its containers run
	// under: Handler resolved once at RunPodSandbox, so a later change of
	// the default handler does not move a running pod. "" (records older
	// than handlers) is the default.
	Runtime string `json:"runtime,omitempty"`
	// NetNS is the bind-mounted network namespace ("" with host network).
	NetNS string `json:"netns,omitempty"`
	IP    string `json:"ip,omitempty"`
	// AdditionalIPs are further pod IPs (dual stack).
	AdditionalIPs []string `json:"additional_ips,omitempty"`
	// PausePid is the pause process; its /proc/<pid>/ns/* are what
	// containers join for IPC, UTS and (shared) PID.
	PausePid     int    `json:"pause_pid"`
	PauseImageID string `json:"pause_image_id"`
	CgroupParent string `json:"cgroup_parent"`
	// NetworkReady is false after CNI teardown, so a second stop skips it.
	NetworkReady bool `json:"network_ready"`
	// PauseRemoved is true once Stop has deleted the dead pause container,
	// its rootfs and its cgroup, so neither a second Stop nor Remove pays
	// for another `runc delete`.
	PauseRemoved bool `json:"pause_removed,omitempty"`
	// PauseStartTime is pause's start time (/proc/<pid>/stat field 22):
	// with it a reused PausePid is told apart from pause.
	PauseStartTime string `json:"pause_start_time,omitempty"`
	// StartSteps are the timed steps of RunPodSandbox.
	StartSteps Steps `json:"start_steps,omitempty"`
}

// Key implements Record.
func (p Pod) Key() string { return p.ID }

// Container is the record of one app container.
type Container struct {
	ID        string                   `json:"id"`
	PodID     string                   `json:"pod_id"`
	Config    *runtime.ContainerConfig `json:"config"`
	State     runtime.ContainerState   `json:"state"`
	ImageID   string                   `json:"image_id"`  // sha256:<config digest>
	ImageRef  string                   `json:"image_ref"` // repo digest, or the ID
	ImageName string                   `json:"image_name"`
	CreatedAt int64                    `json:"created_at"`
	// Runtime is the pod's handler (store.Pod.Runtime), copied so that
	// every later call finds the container's runtime without the pod.
	Runtime    string `json:"runtime,omitempty"`
	StartedAt  int64  `json:"started_at,omitempty"`
	FinishedAt int64  `json:"finished_at,omitempty"`
	Pid        int    `json:"pid,omitempty"`
	ExitCode   int32  `json:"exit_code"`
	// Reason is Completed, Error or OOMKilled once exited.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	LogPath string `json:"log_path,omitempty"`
	// Resources are the limits in force (after UpdateContainerResources).
	Resources   *runtime.LinuxContainerResources `json:"resources,omitempty"`
	CgroupsPath string                           `json:"cgroups_path"`
	// StopSignal is the signal Stop sends ("SIGTERM", "SIGUSR1",
	// "SIGRTMIN+3"), chosen at create from the CRI config and the image.
	StopSignal string `json:"stop_signal,omitempty"`
	// User is the identity the process runs as, resolved at create.
	User   *runtime.ContainerUser `json:"user,omitempty"`
	Bundle string                 `json:"bundle"`
	// CreateSteps are the timed steps of CreateContainer.
	CreateSteps Steps `json:"create_steps,omitempty"`
}

// Key implements Record.
func (c Container) Key() string { return c.ID }

// Step is one timed step of starting a pod or creating a container
// (netns, cni, pause, spec, runc ...), kept for verbose status so a slow
// start can be explained after the fact.
type Step struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// Steps times a sequence of steps.
type Steps []Step

// Add records a step that took d.
func (s *Steps) Add(name string, d time.Duration) { *s = append(*s, Step{Name: name, Duration: d}) }

// Since records a step that began at t and ends now.
func (s *Steps) Since(name string, t time.Time) { s.Add(name, time.Since(t)) }

// LogAttrs renders the steps as slog key/value pairs, rounded to the
// millisecond.
func (s Steps) LogAttrs() []any {
	out := make([]any, 0, 2*len(s))
	for _, st := range s {
		out = append(out, st.Name, st.Duration.Round(time.Millisecond))
	}
	return out
}
