package spec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	smokeRunc    = "/usr/sbin/runc"
	smokeBusybox = "/bin/busybox" // Debian busybox-static
)

// TestRuncSmoke runs generated specs for real: a pause-like sandbox
// (busybox sleep) and, in its namespaces, a container with the default
// security settings, a non-root user from /etc/passwd, supplemental groups,
// a read-only CRI bind mount, added/dropped/ambient capabilities and the
// runtime default seccomp profile. The container reports what it sees; the
// test compares that with what the spec asked for.
func TestRuncSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs runc")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run runc")
	}
	for _, bin := range []string{smokeRunc, smokeBusybox} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s missing (apt-get install -y runc busybox-static): %v", bin, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	base := t.TempDir()
	rootfs := smokeRootfs(t, filepath.Join(base, "rootfs"))
	runcRoot := filepath.Join(base, "runc")
	name := fmt.Sprintf("krill-spec-test-%d", os.Getpid())
	cgroupParent := "/" + name
	t.Cleanup(func() { removeCgroups(t, cgroupParent, "pod", "ctr") })

	// The pod's network namespace, as the network package would make it.
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del: %v: %s", err, out)
		}
	})
	netns := "/run/netns/" + name

	daemonOOM := readOOMScoreAdj(t)

	// The sandbox: busybox sleep stands in for /pause.
	podConfig := &runtime.PodSandboxConfig{
		Metadata: &runtime.PodSandboxMetadata{Name: "smoke", Namespace: "test", Uid: "u1"},
		Hostname: "smoke-pod",
		Linux: &runtime.LinuxPodSandboxConfig{
			Sysctls:         map[string]string{"kernel.shm_rmid_forced": "1"},
			SecurityContext: &runtime.LinuxSandboxSecurityContext{},
		},
	}
	podSpec, err := GenerateSandbox(SandboxInput{
		ID:                     "pod",
		Config:                 podConfig,
		Image:                  ocispec.ImageConfig{Entrypoint: []string{"/bin/sleep", "3600"}},
		Rootfs:                 rootfs,
		NetNSPath:              netns,
		CgroupsPath:            cgroupParent + "/pod",
		DaemonOOMScoreAdj:      daemonOOM,
		EnableUnprivilegedICMP: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	podBundle := writeBundle(t, filepath.Join(base, "pod"), podSpec)
	podID := name + "-pod"
	// Detached: the sleep inherits runc's stdio, so it must not be a pipe
	// we wait on (it would stay open for an hour). Errors go to a log file.
	runcLog := filepath.Join(base, "runc-pod.log")
	detach := exec.CommandContext(ctx, smokeRunc, "--root", runcRoot, "--log", runcLog, "run", "-d", "--bundle", podBundle, podID)
	if err := detach.Run(); err != nil {
		log, _ := os.ReadFile(runcLog)
		t.Fatalf("runc run sandbox: %v: %s", err, log)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(smokeRunc, "--root", runcRoot, "delete", "--force", podID).CombinedOutput(); err != nil {
			t.Errorf("runc delete sandbox: %v: %s", err, out)
		}
	})
	podPID := runcPID(t, ctx, runcRoot, podID)

	// The container, in the pod's namespaces.
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "hello"), []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(base, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost smoke-pod\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		`grep -E '^(Uid|Gid|Groups|CapBnd|CapEff|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status`,
		`echo host=$(hostname)`,
		`echo kcore=$(stat -c %t:%T /proc/kcore 2>/dev/null)`,
		`echo keys=$(stat -c %t:%T /proc/keys)`,
		`echo interrupts=$(stat -c %t:%T /proc/interrupts)`,
		`echo acpi=$(stat -f -c %T /proc/acpi)`,
		`touch /data/new 2>/dev/null && echo data=rw || echo data=ro`,
		`echo hello=$(cat /data/hello)`,
		`touch /rootfile 2>/dev/null && echo root=rw || echo root=ro`,
		`echo shm=$(cat /proc/sys/kernel/shm_rmid_forced)`,
		`echo ping=$(cat /proc/sys/net/ipv4/ping_group_range)`,
		`echo pid1=$(tr '\0' ' ' < /proc/1/cmdline)`,
		`echo hosts=$(cat /etc/hosts)`,
		`echo cgroup=$(grep :memory: /proc/self/cgroup | cut -d: -f3)`,
	}, "; ")
	ctrSpec, err := Generate(Input{
		ID:        "ctr",
		SandboxID: "pod",
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "smoke"},
			Command:  []string{"/bin/sh", "-c", script},
			Mounts:   []*runtime.Mount{{ContainerPath: "/data", HostPath: data, Readonly: true}},
			Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{
				RunAsUser:          &runtime.Int64Value{Value: 1000},
				SupplementalGroups: []int64{3000},
				NoNewPrivs:         true,
				ReadonlyRootfs:     true,
				Seccomp:            &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault},
				Capabilities: &runtime.Capability{
					AddCapabilities:        []string{"NET_ADMIN"},
					DropCapabilities:       []string{"MKNOD"},
					AddAmbientCapabilities: []string{"NET_BIND_SERVICE"},
				},
			}},
		},
		Sandbox: podConfig,
		Rootfs:  rootfs,
		Namespaces: Namespaces{
			NetNS: netns,
			IPC:   fmt.Sprintf("/proc/%d/ns/ipc", podPID),
			UTS:   fmt.Sprintf("/proc/%d/ns/uts", podPID),
			PID:   fmt.Sprintf("/proc/%d/ns/pid", podPID),
		},
		HostsPath:         hosts,
		CgroupsPath:       cgroupParent + "/ctr",
		DaemonOOMScoreAdj: daemonOOM,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctrBundle := writeBundle(t, filepath.Join(base, "ctr"), ctrSpec)
	ctrID := name + "-ctr"
	run := exec.CommandContext(ctx, smokeRunc, "--root", runcRoot, "run", "--bundle", ctrBundle, ctrID)
	run.WaitDelay = 10 * time.Second
	out, err := run.CombinedOutput()
	// runc run deletes the container when it exits; make sure on failure.
	_ = exec.Command(smokeRunc, "--root", runcRoot, "delete", "--force", ctrID).Run()
	if err != nil {
		t.Fatalf("runc run container: %v: %s", err, out)
	}
	t.Logf("container output:\n%s", out)

	// This kernel may lack /proc/kcore (CONFIG_PROC_KCORE=n); runc masks
	// only what exists.
	kcore := ""
	if _, err := os.Stat("/proc/kcore"); err == nil {
		kcore = "1:3"
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(k, "=") {
			k, v, _ = strings.Cut(line, "=")
		}
		got[k] = strings.Join(strings.Fields(v), " ")
	}
	// Default caps + NET_ADMIN - MKNOD: the Docker default a80425fb with
	// bit 12 set and bit 27 cleared. A non-root process keeps only its
	// ambient caps (NET_BIND_SERVICE, bit 10) in the effective set.
	for k, want := range map[string]string{
		"Uid":        "1000 1000 1000 1000",
		"Gid":        "1000 1000 1000 1000",
		"Groups":     "1000 2000 3000",
		"CapBnd":     "00000000a00435fb",
		"CapEff":     "0000000000000400",
		"CapAmb":     "0000000000000400",
		"NoNewPrivs": "1",
		"Seccomp":    "2",
		"host":       "smoke-pod",
		"kcore":      kcore,
		"keys":       "1:3", // masked files have /dev/null bound over them
		"interrupts": "1:3",
		"acpi":       "tmpfs", // masked directories get an empty read-only tmpfs
		"data":       "ro",
		"hello":      "hello from the host",
		"root":       "ro",
		"shm":        "1",
		"ping":       "0 2147483647",
		"pid1":       "/bin/sleep 3600",
		"hosts":      "127.0.0.1 localhost smoke-pod",
		"cgroup":     cgroupParent + "/ctr",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "new")); err == nil {
		t.Error("the container wrote through a read-only mount")
	}
}

// smokeRootfs builds a busybox rootfs with a user database: app (1000) is
// also in group extra (2000).
func smokeRootfs(t *testing.T, root string) string {
	t.Helper()
	// No /data: runc must create the mount point before making / read-only.
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile(smokeBusybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	// Inside a chroot busybox links its applets to its argv[0], /bin/busybox.
	if out, err := exec.Command("chroot", root, "/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		t.Fatalf("busybox --install: %v: %s", err, out)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
		"etc/hosts":  "# replaced by the pod's hosts file\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func writeBundle(t *testing.T, dir string, s *specs.Spec) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runcPID(t *testing.T, ctx context.Context, root, id string) int {
	t.Helper()
	out, err := exec.CommandContext(ctx, smokeRunc, "--root", root, "state", id).Output()
	if err != nil {
		t.Fatalf("runc state: %v", err)
	}
	var st struct {
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Pid <= 0 || st.Status != "running" {
		t.Fatalf("runc state %s: %v (%+v)", out, err, st)
	}
	return st.Pid
}

func readOOMScoreAdj(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// removeCgroups removes the test's cgroups (leaves, then the parent) from
// every hierarchy; runc delete normally removed the leaves already.
func removeCgroups(t *testing.T, parent string, leaves ...string) {
	hierarchies, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		t.Errorf("list cgroup hierarchies: %v", err)
		return
	}
	for _, h := range hierarchies {
		base := filepath.Join("/sys/fs/cgroup", h.Name(), parent)
		for _, p := range append(leaves, "") {
			dir := filepath.Join(base, p)
			if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("remove cgroup %s: %v", dir, err)
			}
		}
	}
}
