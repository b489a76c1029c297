package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkPodContainerLifecycle: the whole life of a one-container pod as
// kubelet drives it (RunPodSandbox, CreateContainer, StartContainer,
// StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox), 20
// pods one after the other. It reports each call's p50, "ready" (from
// RunPodSandbox to StartContainer's answer), the whole lifecycle, and the
// CPU krilld and everything it ran (shims, runc, CNI plugins) used per pod
// lifecycle, from krilld's own and its reaped children's CPU times: a
// figure the other load on a shared machine hardly moves.
func BenchmarkPodContainerLifecycle(b *testing.B) {
	b.Run("builtin-network", func(b *testing.B) { benchPodContainerLifecycle(b, envOptions{builtinNetwork: true}) })
	b.Run("conflist-bridge-portmap", func(b *testing.B) { benchPodContainerLifecycle(b, envOptions{}) })
}

func benchPodContainerLifecycle(b *testing.B, opts envOptions) {
	e := newEnvWith(b, opts)
	const n = 20
	steps := []string{"run", "create", "start", "stop-ctr", "rm-ctr", "stop-pod", "rm-pod", "ready", "lifecycle"}
	for iter := 0; iter < b.N; iter++ {
		ds := map[string][]time.Duration{}
		cpu0, self0 := treeCPU(b, e.d.Cmd.Process.Pid)
		for i := 0; i < n; i++ {
			timed := func(step string, f func() error) {
				t0 := time.Now()
				if err := f(); err != nil {
					b.Fatalf("%s: %v", step, err)
				}
				ds[step] = append(ds[step], time.Since(t0))
			}
			t0 := time.Now()
			name := fmt.Sprintf("lc-%d-%d", iter, i)
			id, podCfg := e.pod(name)
			ds["run"] = append(ds["run"], time.Since(t0))
			var ctr string
			timed("create", func() error {
				r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
					PodSandboxId: id, SandboxConfig: podCfg,
					Config: &runtime.ContainerConfig{
						Metadata: &runtime.ContainerMetadata{Name: "c"},
						Image:    &runtime.ImageSpec{Image: e.image},
						Command:  []string{"sleep", "3600"},
						LogPath:  "c.log",
					},
				})
				if err == nil {
					ctr = r.ContainerId
				}
				return err
			})
			timed("start", func() error {
				_, err := e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: ctr})
				return err
			})
			ds["ready"] = append(ds["ready"], time.Since(t0))
			timed("stop-ctr", func() error {
				_, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: ctr})
				return err
			})
			timed("rm-ctr", func() error {
				_, err := e.rt.RemoveContainer(e.ctx(), &runtime.RemoveContainerRequest{ContainerId: ctr})
				return err
			})
			timed("stop-pod", func() error {
				_, err := e.rt.StopPodSandbox(e.ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: id})
				return err
			})
			timed("rm-pod", func() error {
				_, err := e.rt.RemovePodSandbox(e.ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: id})
				return err
			})
			ds["lifecycle"] = append(ds["lifecycle"], time.Since(t0))
		}
		// Shims exit after their container's removal; krilld reaps them
		// (and so counts their CPU) a moment later.
		time.Sleep(200 * time.Millisecond)
		cpu1, self1 := treeCPU(b, e.d.Cmd.Process.Pid)
		for _, s := range steps {
			percentiles(b, s, ds[s])
		}
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/n, "cpu-ms/pod")
		b.ReportMetric(float64((self1-self0).Microseconds())/1000/n, "krilld-cpu-ms/pod")
	}
}

// treeCPU is the user+system CPU of pid and of its children it has reaped
// (and theirs), and of pid alone, from /proc/<pid>/stat.
func treeCPU(b *testing.B, pid int) (tree, self time.Duration) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15, cutime 16, cstime 17.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks [4]int64
	for i := range ticks {
		ticks[i], _ = strconv.ParseInt(f[14+i-3], 10, 64)
	}
	tick := time.Second / 100 // USER_HZ
	return time.Duration(ticks[0]+ticks[1]+ticks[2]+ticks[3]) * tick, time.Duration(ticks[0]+ticks[1]) * tick
}
