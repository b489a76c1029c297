package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestSharedPIDNamespaceKillsOrphansOnExit: a container that shares the
// pod's pid namespace and exits leaving a child behind takes the child
// with it (containerd's runc shim does the same), instead of the child
// living on under pause until the pod stops; its own-namespace sibling is
// the control, whose orphan the kernel ends with the namespace.
func TestSharedPIDNamespaceKillsOrphansOnExit(t *testing.T) {
	e := newEnv(t)
	podID, podCfg := e.pod("orphans")
	keeper := e.container(podID, podCfg, "keeper", []string{"sleep", "3600"})
	// The harness's containers share the pod's pid namespace (mode POD).
	id := e.container(podID, podCfg, "leaver", []string{"sh", "-c", "sleep 3607 & sleep 1; exit 3"})
	st := e.waitExited(id, 30*time.Second)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 3 {
		t.Fatalf("state %s exit %d, want EXITED 3", st.State, st.ExitCode)
	}
	if pids := processesOf(id); len(pids) > 0 {
		t.Errorf("processes of the exited container still run: %v", pids)
	}
	// The pod's other container and pause are untouched.
	if got := e.exec(keeper, "sh", "-c", "cat /proc/1/cmdline"); !strings.Contains(got, "pause") {
		t.Errorf("pid 1 of the pod is %q, want pause", got)
	}
	if out := e.exec(keeper, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"); strings.Contains(out, "sleep 3607") {
		t.Errorf("the orphan still runs in the pod's pid namespace: %q", out)
	}
}

// processesOf lists the host pids whose cgroup names container id.
func processesOf(id string) []string {
	var out []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cgroup"))
		if err == nil && strings.Contains(string(b), id) {
			cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
			out = append(out, fmt.Sprintf("%s (%s)", p.Name(), strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	}
	return out
}
