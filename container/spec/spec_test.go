package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestGenerateDefaults(t *testing.T) {
	in := podInput(t)
	in.Image.Env = []string{"IMG=1"}
	in.Image.WorkingDir = "/work"
	in.Config.Tty = true
	in.Config.Annotations = map[string]string{"user": "a", AnnotationSandboxID: "forged"}
	in.AllowedAnnotations.Container = []string{"user", "io.kubernetes.cri.*"}
	s, err := Generate(in)
	checkErr(t, err, nil)

	if s.Version != OCIVersion || s.Root.Path != in.Rootfs || s.Root.Readonly {
		t.Errorf("root = %+v, version %q", s.Root, s.Version)
	}
	if !s.Process.Terminal || s.Process.Cwd != "/work" || !slices.Equal(s.Process.Args, []string{"/bin/true"}) {
		t.Errorf("process = terminal %v cwd %q args %q", s.Process.Terminal, s.Process.Cwd, s.Process.Args)
	}
	if !slices.Equal(s.Process.Env, []string{defaultPath, "HOSTNAME=podhost", "IMG=1"}) {
		t.Errorf("env = %q", s.Process.Env)
	}
	if s.Process.NoNewPrivileges {
		t.Error("no_new_privs set without being asked")
	}
	if len(s.Process.Rlimits) != 0 {
		t.Errorf("rlimits = %v, want none (inherited, like containerd CRI)", s.Process.Rlimits)
	}
	if s.Process.Capabilities == nil || !slices.Equal(s.Process.Capabilities.Bounding, defaultCapabilities) ||
		!slices.Equal(s.Process.Capabilities.Effective, defaultCapabilities) || len(s.Process.Capabilities.Inheritable) != 0 || len(s.Process.Capabilities.Ambient) != 0 {
		t.Errorf("capabilities = %+v", s.Process.Capabilities)
	}
	if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, defaultReadonlyPaths) {
		t.Errorf("masked %q readonly %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if s.Linux.Seccomp != nil {
		t.Error("an unset seccomp profile must be unconfined for containers")
	}
	if s.Linux.CgroupsPath != "/krill/c1" || s.Hostname != "" || len(s.Linux.Sysctl) != 0 {
		t.Errorf("cgroups %q hostname %q sysctl %v", s.Linux.CgroupsPath, s.Hostname, s.Linux.Sysctl)
	}
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != 0 {
		t.Errorf("oom_score_adj = %v", s.Process.OOMScoreAdj)
	}
	if got := s.Linux.Resources.Devices; len(got) != 1 || got[0].Allow || got[0].Access != "rwm" {
		t.Errorf("device rules = %+v, want deny-all", got)
	}
	for k, want := range map[string]string{
		"user":                     "a",
		AnnotationContainerType:    "container",
		AnnotationSandboxID:        "pod1",
		AnnotationSandboxName:      "pod",
		AnnotationSandboxNamespace: "ns",
		AnnotationSandboxUID:       "uid-1",
		AnnotationContainerName:    "ctr",
		AnnotationImageName:        "registry.k8s.io/e2e-test-images/busybox:1.29-2",
	} {
		if s.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], want)
		}
	}
	// The spec must survive a JSON round trip (it is written to config.json).
	if _, err := json.Marshal(s); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Input)
		want   error
	}{
		{"no id", func(in *Input) { in.ID = "" }, errdefs.ErrInvalidArgument},
		{"no config", func(in *Input) { in.Config = nil }, errdefs.ErrInvalidArgument},
		{"relative rootfs", func(in *Input) { in.Rootfs = "rootfs" }, errdefs.ErrInvalidArgument},
		{"no command", func(in *Input) { in.Config.Command = nil }, errdefs.ErrInvalidArgument},
		{"privileged container in unprivileged pod", func(in *Input) { securityContext(in).Privileged = true }, errdefs.ErrInvalidArgument},
		{"nil sandbox config is a default pod", func(in *Input) { in.Sandbox = nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			tc.mutate(&in)
			_, err := Generate(in)
			checkErr(t, err, tc.want)
		})
	}
}

func TestNamespaces(t *testing.T) {
	const (
		net = "/run/krill/netns/pod1"
		ipc = "/proc/42/ns/ipc"
		uts = "/proc/42/ns/uts"
		pid = "/proc/42/ns/pid"
	)
	nsOf := func(pod, ctr *runtime.NamespaceOption) func(*Input) {
		return func(in *Input) {
			podSecurityContext(in).NamespaceOptions = pod
			securityContext(in).NamespaceOptions = ctr
		}
	}
	all := Namespaces{NetNS: net, IPC: ipc, UTS: uts, PID: pid}
	idmap := []*runtime.IDMapping{{ContainerId: 0, HostId: 1000, Length: 65536}}
	for _, tc := range []struct {
		name    string
		paths   Namespaces
		mutate  func(*Input)
		unified bool
		want    map[specs.LinuxNamespaceType]string // type -> path ("" = new)
		wantErr error
	}{
		{
			name: "pod shares pid (mode POD, the zero value)", paths: all, mutate: nsOf(nil, nil),
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: pid},
		},
		{
			name: "container pid", paths: all, mutate: nsOf(nil, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}),
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: ""},
		},
		{
			name: "target pid", paths: Namespaces{NetNS: net, IPC: ipc, UTS: uts, PID: "/proc/77/ns/pid"},
			mutate: nsOf(nil, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_TARGET, TargetId: "other"}),
			want:   map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: "/proc/77/ns/pid"},
		},
		{
			name:   "host network, ipc and pid",
			mutate: nsOf(&runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE, Ipc: runtime.NamespaceMode_NODE, Pid: runtime.NamespaceMode_NODE}, &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE, Ipc: runtime.NamespaceMode_NODE, Pid: runtime.NamespaceMode_NODE}),
			want:   map[specs.LinuxNamespaceType]string{specs.MountNamespace: ""},
		},
		{
			name: "host network only", paths: Namespaces{IPC: ipc, PID: pid},
			mutate: nsOf(&runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}, nil),
			want:   map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.IPCNamespace: ipc, specs.PIDNamespace: pid},
		},
		{
			name: "host network pod, container config without namespace options", paths: Namespaces{IPC: ipc},
			mutate: nsOf(&runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}),
			want:   map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.IPCNamespace: ipc, specs.PIDNamespace: ""},
		},
		{
			name: "cgroup namespace on unified hosts", paths: all, unified: true, mutate: nsOf(nil, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}),
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: "", specs.CgroupNamespace: ""},
		},
		{name: "pod netns path missing", paths: Namespaces{IPC: ipc, UTS: uts, PID: pid}, mutate: nsOf(nil, nil), wantErr: errdefs.ErrInvalidArgument},
		{name: "pod ipc path missing", paths: Namespaces{NetNS: net, UTS: uts, PID: pid}, mutate: nsOf(nil, nil), wantErr: errdefs.ErrInvalidArgument},
		{name: "pod uts path missing", paths: Namespaces{NetNS: net, IPC: ipc, PID: pid}, mutate: nsOf(nil, nil), wantErr: errdefs.ErrInvalidArgument},
		{name: "shared pid without path", paths: Namespaces{NetNS: net, IPC: ipc, UTS: uts}, mutate: nsOf(nil, nil), wantErr: errdefs.ErrInvalidArgument},
		{name: "target pid without path", paths: Namespaces{NetNS: net, IPC: ipc, UTS: uts}, mutate: nsOf(nil, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_TARGET}), wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown pid mode", paths: all, mutate: nsOf(nil, &runtime.NamespaceOption{Pid: 9}), wantErr: errdefs.ErrInvalidArgument},
		{
			// The pod's user namespace is joined (pause's), whatever the
			// container's copy of the options says.
			name: "pod user namespace", paths: Namespaces{NetNS: net, IPC: ipc, UTS: uts, User: "/proc/1/ns/user"},
			mutate: nsOf(&runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: idmap, Gids: idmap}},
				&runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}),
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: "", specs.UserNamespace: "/proc/1/ns/user"},
		},
		{
			name: "pod user namespace without path", paths: all,
			mutate:  nsOf(&runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: idmap, Gids: idmap}}, nil),
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "container user namespace", paths: all,
			mutate:  nsOf(&runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_CONTAINER}}, nil),
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "node user namespace", paths: all,
			mutate: nsOf(nil, &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER, UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_NODE}}),
			want:   map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.IPCNamespace: ipc, specs.UTSNamespace: uts, specs.PIDNamespace: ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.Namespaces = tc.paths
			in.UnifiedCgroups = tc.unified
			tc.mutate(&in)
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			got := map[specs.LinuxNamespaceType]string{}
			for _, ns := range s.Linux.Namespaces {
				if _, dup := got[ns.Type]; dup {
					t.Fatalf("namespace %s listed twice", ns.Type)
				}
				got[ns.Type] = ns.Path
			}
			if len(got) != len(tc.want) {
				t.Fatalf("namespaces = %v, want %v", got, tc.want)
			}
			for typ, path := range tc.want {
				if p, ok := got[typ]; !ok || p != path {
					t.Fatalf("namespaces = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	with := func(base []string, add ...string) []string { return append(slices.Clone(base), add...) }
	without := func(base []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(base), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tc := range []struct {
		name        string
		caps        *runtime.Capability
		privileged  bool
		want        []string // bounding = permitted = effective; nil = compute "all"
		wantAll     bool
		wantAmbient []string
		wantErr     error
	}{
		{name: "default", want: defaultCapabilities},
		{name: "add without prefix", caps: &runtime.Capability{AddCapabilities: []string{"NET_ADMIN"}}, want: with(defaultCapabilities, "CAP_NET_ADMIN")},
		{name: "add with prefix, lower case", caps: &runtime.Capability{AddCapabilities: []string{"cap_sys_admin"}}, want: with(defaultCapabilities, "CAP_SYS_ADMIN")},
		{name: "add one already present", caps: &runtime.Capability{AddCapabilities: []string{"CHOWN"}}, want: defaultCapabilities},
		{name: "drop", caps: &runtime.Capability{DropCapabilities: []string{"CHOWN", "CAP_KILL"}}, want: without(defaultCapabilities, "CAP_CHOWN", "CAP_KILL")},
		{name: "add ALL", caps: &runtime.Capability{AddCapabilities: []string{"ALL"}}, wantAll: true},
		{name: "add ALL drop one", caps: &runtime.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"SYS_ADMIN"}}, want: nil},
		{name: "drop ALL", caps: &runtime.Capability{DropCapabilities: []string{"ALL"}}, want: []string{}},
		{name: "drop ALL add one", caps: &runtime.Capability{DropCapabilities: []string{"all"}, AddCapabilities: []string{"NET_BIND_SERVICE"}}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "ambient", caps: &runtime.Capability{AddAmbientCapabilities: []string{"NET_BIND_SERVICE", "NET_ADMIN"}}, want: with(defaultCapabilities, "CAP_NET_ADMIN"), wantAmbient: []string{"CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"}},
		{name: "ambient dropped", caps: &runtime.Capability{AddAmbientCapabilities: []string{"NET_RAW"}, DropCapabilities: []string{"NET_RAW"}}, want: without(defaultCapabilities, "CAP_NET_RAW")},
		{name: "privileged ignores drop", privileged: true, caps: &runtime.Capability{DropCapabilities: []string{"ALL"}}, wantAll: true},
		{name: "unknown name", caps: &runtime.Capability{AddCapabilities: []string{"FLY"}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown drop", caps: &runtime.Capability{DropCapabilities: []string{"CAP_FLY"}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "not held by the runtime", caps: &runtime.Capability{AddCapabilities: []string{"SYS_RESOURCE"}}, wantErr: errdefs.ErrFailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			all := fakeCaps(t)
			sc := securityContext(&in)
			sc.Capabilities = tc.caps
			sc.Privileged = tc.privileged
			podSecurityContext(&in).Privileged = tc.privileged
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			want := tc.want
			if tc.wantAll {
				want = all
			} else if want == nil { // "add ALL drop one"
				want = without(all, "CAP_SYS_ADMIN")
			}
			c := s.Process.Capabilities
			for name, got := range map[string][]string{"bounding": c.Bounding, "permitted": c.Permitted, "effective": c.Effective} {
				if !slices.Equal(sorted(got), sorted(want)) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if !slices.Equal(c.Ambient, tc.wantAmbient) || !slices.Equal(c.Inheritable, tc.wantAmbient) {
				t.Errorf("ambient %q inheritable %q, want %q", c.Ambient, c.Inheritable, tc.wantAmbient)
			}
		})
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestMaskedAndReadonlyPaths(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		masked, readonly       []string
		privileged             bool
		wantMasked, wantRdonly []string
	}{
		{name: "unset gives defaults", wantMasked: defaultMaskedPaths, wantRdonly: defaultReadonlyPaths},
		{name: "CRI lists replace defaults", masked: []string{"/bin/ls"}, readonly: []string{"/tmp"}, wantMasked: []string{"/bin/ls"}, wantRdonly: []string{"/tmp"}},
		{name: "empty lists mean none", masked: []string{}, readonly: []string{}, wantMasked: []string{}, wantRdonly: []string{}},
		{name: "privileged has none", privileged: true, masked: []string{"/bin/ls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			sc := securityContext(&in)
			sc.MaskedPaths, sc.ReadonlyPaths, sc.Privileged = tc.masked, tc.readonly, tc.privileged
			podSecurityContext(&in).Privileged = tc.privileged
			s, err := Generate(in)
			checkErr(t, err, nil)
			if !slices.Equal(s.Linux.MaskedPaths, tc.wantMasked) || !slices.Equal(s.Linux.ReadonlyPaths, tc.wantRdonly) {
				t.Fatalf("masked %q readonly %q, want %q %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, tc.wantMasked, tc.wantRdonly)
			}
			if tc.wantMasked != nil && s.Linux.MaskedPaths == nil {
				t.Fatal("masked paths must be an empty list, not unset")
			}
		})
	}
}

func TestPrivileged(t *testing.T) {
	in := podInput(t)
	securityContext(&in).Privileged = true
	securityContext(&in).Seccomp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	podSecurityContext(&in).Privileged = true
	s, err := Generate(in)
	checkErr(t, err, nil)
	if s.Linux.Seccomp != nil {
		t.Error("privileged container has a seccomp filter")
	}
	for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
		m := findMount(s, dst)
		if m == nil || !slices.Contains(m.Options, "rw") || slices.Contains(m.Options, "ro") {
			t.Errorf("%s mount = %+v, want rw", dst, m)
		}
	}
	if r := s.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || r[0].Access != "rwm" {
		t.Errorf("device rules = %+v, want allow-all", r)
	}
	var null *specs.LinuxDevice
	for i, d := range s.Linux.Devices {
		if d.Path == "/dev/null" {
			null = &s.Linux.Devices[i]
		}
		if d.Path == "/dev/console" || filepath.Dir(d.Path) == "/dev/pts" {
			t.Errorf("privileged container got %s", d.Path)
		}
	}
	if null == nil || null.Type != "c" || null.Major != 1 || null.Minor != 3 {
		t.Errorf("/dev/null = %+v", null)
	}
}

func TestSysMountsReadOnlyWhenUnprivileged(t *testing.T) {
	in := podInput(t)
	s, err := Generate(in)
	checkErr(t, err, nil)
	for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
		m := findMount(s, dst)
		if m == nil || !slices.Contains(m.Options, "ro") {
			t.Errorf("%s mount = %+v, want ro", dst, m)
		}
	}
}

func TestSeccomp(t *testing.T) {
	dir := t.TempDir()
	profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat"],"action":"SCMP_ACT_ERRNO"}]}`
	if err := os.WriteFile(filepath.Join(dir, "block-chmod.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "block-chmod.json")
	const (
		none = iota
		runtimeDefault
		blockChmod
	)
	for _, tc := range []struct {
		name       string
		sp         *runtime.SecurityProfile
		legacy     string
		privileged bool
		want       int
		wantErr    error
	}{
		{name: "unset is unconfined", want: none},
		{name: "runtime default", sp: &runtime.SecurityProfile{}, want: runtimeDefault},
		{name: "unconfined", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, want: none},
		{name: "localhost absolute", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: abs}, want: blockChmod},
		{name: "localhost with localhost/ prefix", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "localhost/" + abs}, want: blockChmod},
		{name: "relative climbing out", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "../../../../" + abs}, wantErr: errdefs.ErrInvalidArgument},
		{name: "relative", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "block-chmod.json"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "missing profile", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: filepath.Join(dir, "nope.json")}, wantErr: errdefs.ErrNotFound},
		{name: "bad json", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: filepath.Join(dir, "bad.json")}, wantErr: errdefs.ErrInvalidArgument},
		{name: "localhost without path", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost}, wantErr: errdefs.ErrInvalidArgument},
		{name: "ref without localhost type", sp: &runtime.SecurityProfile{LocalhostRef: abs}, wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown type", sp: &runtime.SecurityProfile{ProfileType: 9}, wantErr: errdefs.ErrInvalidArgument},
		{name: "legacy runtime/default", legacy: "runtime/default", want: runtimeDefault},
		{name: "legacy docker/default", legacy: "docker/default", want: runtimeDefault},
		{name: "legacy unconfined", legacy: "unconfined", want: none},
		{name: "legacy localhost", legacy: "localhost/" + abs, want: blockChmod},
		{name: "legacy garbage", legacy: "strict", wantErr: errdefs.ErrInvalidArgument},
		{name: "field beats legacy", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, legacy: "runtime/default", want: none},
		{name: "privileged ignores localhost", sp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: abs}, privileged: true, want: none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			sc := securityContext(&in)
			//lint:ignore SA1019 deprecated field under test
			sc.Seccomp, sc.SeccompProfilePath, sc.Privileged = tc.sp, tc.legacy, tc.privileged
			podSecurityContext(&in).Privileged = tc.privileged
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			sec := s.Linux.Seccomp
			switch tc.want {
			case none:
				if sec != nil {
					t.Fatalf("seccomp = %+v, want none", sec.DefaultAction)
				}
			case runtimeDefault:
				if sec == nil || sec.DefaultAction != specs.ActErrno || len(sec.Syscalls) < 10 {
					t.Fatalf("seccomp = %+v, want the runtime default profile", sec)
				}
				// Unlike pause's, an app container's profile keeps the
				// compat ABIs: 32-bit programs may run there.
				if nativeArch == specs.ArchX86_64 && len(sec.Architectures) < 2 {
					t.Fatalf("architectures = %v, want the compat ABIs too", sec.Architectures)
				}
			case blockChmod:
				if sec == nil || sec.DefaultAction != specs.ActAllow || len(sec.Syscalls) != 1 || !slices.Equal(sec.Syscalls[0].Names, []string{"chmod", "fchmodat"}) {
					t.Fatalf("seccomp = %+v, want the block-chmod profile", sec)
				}
			}
		})
	}
}

// The runtime default profile allows syscalls by capability, so added caps
// must be visible to it.
func TestSeccompDefaultFollowsCapabilities(t *testing.T) {
	allows := func(s *specs.Spec, name string) bool {
		for _, sc := range s.Linux.Seccomp.Syscalls {
			if sc.Action == specs.ActAllow && slices.Contains(sc.Names, name) {
				return true
			}
		}
		return false
	}
	in := podInput(t)
	securityContext(&in).Seccomp = &runtime.SecurityProfile{}
	s, err := Generate(in)
	checkErr(t, err, nil)
	if allows(s, "sethostname") {
		t.Fatal("sethostname allowed without CAP_SYS_ADMIN")
	}
	securityContext(&in).Capabilities = &runtime.Capability{AddCapabilities: []string{"SYS_ADMIN"}}
	s, err = Generate(in)
	checkErr(t, err, nil)
	if !allows(s, "sethostname") {
		t.Fatal("sethostname refused with CAP_SYS_ADMIN")
	}
}

func TestNoNewPrivsAndReadonlyRootfs(t *testing.T) {
	in := podInput(t)
	sc := securityContext(&in)
	sc.NoNewPrivs, sc.ReadonlyRootfs = true, true
	s, err := Generate(in)
	checkErr(t, err, nil)
	if !s.Process.NoNewPrivileges || !s.Root.Readonly {
		t.Fatalf("no_new_privs %v readonly %v", s.Process.NoNewPrivileges, s.Root.Readonly)
	}
}

func TestOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resources *runtime.LinuxContainerResources
		daemon    int
		want      int
	}{
		{name: "no resources", want: 0},
		{name: "no resources, negative daemon", daemon: -500, want: 0},
		{name: "burstable", resources: &runtime.LinuxContainerResources{OomScoreAdj: 300}, want: 300},
		{name: "guaranteed clamped to the daemon", resources: &runtime.LinuxContainerResources{OomScoreAdj: -997}, daemon: -500, want: -500},
		{name: "guaranteed, root daemon at 0", resources: &runtime.LinuxContainerResources{OomScoreAdj: -997}, want: 0},
		{name: "above the daemon", resources: &runtime.LinuxContainerResources{OomScoreAdj: 1000}, daemon: -999, want: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.DaemonOOMScoreAdj = tc.daemon
			if tc.resources != nil {
				in.Config.Linux = &runtime.LinuxContainerConfig{Resources: tc.resources}
			}
			s, err := Generate(in)
			checkErr(t, err, nil)
			if *s.Process.OOMScoreAdj != tc.want {
				t.Fatalf("oom_score_adj = %d, want %d", *s.Process.OOMScoreAdj, tc.want)
			}
			if tc.resources != nil && tc.resources.CpuShares == 0 && s.Linux.Resources.CPU != nil {
				t.Fatal("Generate must leave cgroup resources to the caller")
			}
		})
	}
}

func TestDevices(t *testing.T) {
	devDir := t.TempDir()
	// Device nodes need root (make unit runs as root); without it the
	// rest of the package still runs.
	if os.Geteuid() != 0 {
		t.Skip("needs root to make device nodes")
	}
	if err := unix.Mknod(filepath.Join(devDir, "fuse0"), unix.S_IFCHR|0o620, int(unix.Mkdev(10, 229))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	if err := unix.Mknod(filepath.Join(devDir, "loop9"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 9))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	if err := os.WriteFile(filepath.Join(devDir, "notadevice"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "null-link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	type dev struct {
		path         string
		typ          string
		major, minor int64
		access       string
	}
	for _, tc := range []struct {
		name    string
		devices []*runtime.Device
		want    []dev
		wantErr error
	}{
		{name: "single node renamed", devices: []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rw"}}, want: []dev{{"/dev/mynull", "c", 1, 3, "rw"}}},
		{name: "symlink to a node is followed", devices: []*runtime.Device{{HostPath: link, ContainerPath: "/dev/n", Permissions: "r"}}, want: []dev{{"/dev/n", "c", 1, 3, "r"}}},
		{name: "default permissions", devices: []*runtime.Device{{HostPath: "/dev/zero", ContainerPath: "/dev/zero"}}, want: []dev{{"/dev/zero", "c", 1, 5, "rwm"}}},
		{name: "directory of nodes, non-devices skipped", devices: []*runtime.Device{{HostPath: devDir, ContainerPath: "/dev/extra", Permissions: "rwm"}}, want: []dev{{"/dev/extra/fuse0", "c", 10, 229, "rwm"}, {"/dev/extra/loop9", "b", 7, 9, "rwm"}}},
		{name: "not a device", devices: []*runtime.Device{{HostPath: filepath.Join(devDir, "notadevice"), ContainerPath: "/dev/x"}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "missing", devices: []*runtime.Device{{HostPath: "/dev/does-not-exist", ContainerPath: "/dev/x"}}, wantErr: errdefs.ErrNotFound},
		{name: "bad permissions", devices: []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "/dev/x", Permissions: "rwx"}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "relative container path", devices: []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "dev/x"}}, wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.Config.Devices = tc.devices
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if len(s.Linux.Devices) != len(tc.want) || len(s.Linux.Resources.Devices) != len(tc.want)+1 {
				t.Fatalf("devices %+v rules %+v, want %d", s.Linux.Devices, s.Linux.Resources.Devices, len(tc.want))
			}
			if r := s.Linux.Resources.Devices[0]; r.Allow {
				t.Fatal("the first device rule must deny all")
			}
			for i, w := range tc.want {
				d, r := s.Linux.Devices[i], s.Linux.Resources.Devices[i+1]
				if d.Path != w.path || d.Type != w.typ || d.Major != w.major || d.Minor != w.minor || d.FileMode == nil {
					t.Errorf("device %d = %+v, want %+v", i, d, w)
				}
				if !r.Allow || r.Type != w.typ || *r.Major != w.major || *r.Minor != w.minor || r.Access != w.access {
					t.Errorf("rule %d = %+v (major %d minor %d), want %+v", i, r, *r.Major, *r.Minor, w)
				}
			}
		})
	}
}

func TestMergeResources(t *testing.T) {
	in := podInput(t)
	in.Config.Devices = []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "/dev/null2", Permissions: "rw"}}
	s, err := Generate(in)
	checkErr(t, err, nil)
	limit := int64(64 << 20)
	MergeResources(s, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})
	if s.Linux.Resources.Memory == nil || *s.Linux.Resources.Memory.Limit != limit {
		t.Fatal("memory limit lost")
	}
	if d := s.Linux.Resources.Devices; len(d) != 2 || d[0].Allow || !d[1].Allow {
		t.Fatalf("device rules after merge = %+v", d)
	}
	MergeResources(s, nil)
	if d := s.Linux.Resources.Devices; len(d) != 2 {
		t.Fatalf("device rules after nil merge = %+v", d)
	}
}

// fakeMounts makes the propagation check see src on a mount with the given
// optional fields ("shared:1", "master:2" or "").
func fakeMounts(t *testing.T, optional string) {
	t.Helper()
	old := lookupMount
	lookupMount = func(dir string) (mount.Info, error) {
		return mount.Info{Mountpoint: "/", Optional: optional}, nil
	}
	t.Cleanup(func() { lookupMount = old })
}

// BenchmarkGenerate measures a typical kubelet container: user lookup in
// /etc/passwd and /etc/group, mounts and the runtime default seccomp
// profile.
func BenchmarkGenerate(b *testing.B) {
	in := podInput(b)
	sc := securityContext(&in)
	sc.RunAsUser = int64p(1000)
	sc.Seccomp = &runtime.SecurityProfile{}
	in.Config.Mounts = []*runtime.Mount{{ContainerPath: "/data", HostPath: b.TempDir(), Readonly: true}}
	for b.Loop() {
		if _, err := Generate(in); err != nil {
			b.Fatal(err)
		}
	}
}
