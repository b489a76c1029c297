package spec

import (
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func sandboxInput(t *testing.T) SandboxInput {
	t.Helper()
	return SandboxInput{
		ID: "pod1",
		Config: &runtime.PodSandboxConfig{
			Metadata:     &runtime.PodSandboxMetadata{Name: "pod", Namespace: "ns", Uid: "uid-1"},
			Hostname:     "podhost",
			LogDirectory: "/var/log/pods/x",
			Annotations:  map[string]string{"a": "b", "run.oci.keep_original_groups": "1"},
			Linux:        &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{}},
		},
		Image:       ocispec.ImageConfig{Entrypoint: []string{"/pause"}, Env: []string{"PATH=/bin"}},
		Rootfs:      t.TempDir(), // the pause image has no /etc/passwd
		NetNSPath:   "/run/krill/netns/pod1",
		CgroupsPath: "/krill/pod1",
		ImageName:   "registry.k8s.io/pause:3.10",
		// "a" passes, the crun knob in the annotations does not.
		AllowedAnnotations: AllowedAnnotations{Pod: []string{"a"}},
		// A daemon run like containerd under systemd on a kubelet node.
		DaemonOOMScoreAdj: -999,
	}
}

func TestGenerateSandboxDefaults(t *testing.T) {
	in := sandboxInput(t)
	s, err := GenerateSandbox(in)
	checkErr(t, err, nil)
	if !slices.Equal(s.Process.Args, []string{"/pause"}) || !slices.Equal(s.Process.Env, []string{"PATH=/bin"}) || s.Process.Cwd != "/" {
		t.Errorf("process args %q env %q cwd %q", s.Process.Args, s.Process.Env, s.Process.Cwd)
	}
	if !s.Root.Readonly || s.Root.Path != in.Rootfs || !s.Process.NoNewPrivileges {
		t.Errorf("root %+v no_new_privs %v", s.Root, s.Process.NoNewPrivileges)
	}
	if c := s.Process.Capabilities; c == nil || len(c.Bounding)+len(c.Permitted)+len(c.Effective)+len(c.Inheritable)+len(c.Ambient) != 0 {
		t.Errorf("capabilities = %+v, want none", c)
	}
	if s.Process.User.UID != 0 || s.Process.User.GID != 0 {
		t.Errorf("user = %+v", s.Process.User)
	}
	if s.Hostname != "podhost" {
		t.Errorf("hostname = %q", s.Hostname)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Error("sandbox without a seccomp profile must get the runtime default")
	} else if nativeArch != "" && !slices.Equal(s.Linux.Seccomp.Architectures, []specs.Arch{nativeArch}) {
		t.Errorf("pause profile architectures = %v, want only the native %s", s.Linux.Seccomp.Architectures, nativeArch)
	}
	if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, defaultReadonlyPaths) {
		t.Errorf("masked %q readonly %q", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if *s.Process.OOMScoreAdj != -998 {
		t.Errorf("oom_score_adj = %d", *s.Process.OOMScoreAdj)
	}
	if m := findMount(s, "/sys"); m == nil || !slices.Contains(m.Options, "ro") {
		t.Errorf("/sys = %+v", m)
	}
	if s.Linux.CgroupsPath != "/krill/pod1" || len(s.Linux.Sysctl) != 0 {
		t.Errorf("cgroups %q sysctl %v", s.Linux.CgroupsPath, s.Linux.Sysctl)
	}
	for k, want := range map[string]string{
		"a":                        "b",
		AnnotationContainerType:    "sandbox",
		AnnotationSandboxID:        "pod1",
		AnnotationSandboxName:      "pod",
		AnnotationSandboxNamespace: "ns",
		AnnotationSandboxUID:       "uid-1",
		AnnotationSandboxLogDir:    "/var/log/pods/x",
		AnnotationSandboxImageName: "registry.k8s.io/pause:3.10",
	} {
		if s.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, s.Annotations[k], want)
		}
	}
	if _, ok := s.Annotations["run.oci.keep_original_groups"]; ok {
		t.Error("an annotation not on the allow-list reached the pause spec")
	}
}

func TestGenerateSandboxNamespaces(t *testing.T) {
	const net = "/run/krill/netns/pod1"
	for _, tc := range []struct {
		name         string
		opts         *runtime.NamespaceOption
		netns        string
		hostname     string
		want         map[specs.LinuxNamespaceType]string
		wantHostname string
		wantErr      error
	}{
		{
			name: "own namespaces", netns: net, wantHostname: "podhost",
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.UTSNamespace: "", specs.IPCNamespace: "", specs.PIDNamespace: ""},
		},
		{
			name: "hostname override", netns: net, hostname: "other", wantHostname: "other",
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.UTSNamespace: "", specs.IPCNamespace: "", specs.PIDNamespace: ""},
		},
		{
			name: "host network means host UTS too", opts: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE},
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.IPCNamespace: "", specs.PIDNamespace: ""},
		},
		{
			name: "host ipc and pid", netns: net, wantHostname: "podhost", opts: &runtime.NamespaceOption{Ipc: runtime.NamespaceMode_NODE, Pid: runtime.NamespaceMode_NODE},
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.UTSNamespace: ""},
		},
		{
			name: "container pid mode still gives the pod a pid namespace", netns: net, wantHostname: "podhost", opts: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER},
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.UTSNamespace: "", specs.IPCNamespace: "", specs.PIDNamespace: ""},
		},
		{name: "missing netns", wantErr: errdefs.ErrInvalidArgument},
		{name: "user namespace without mappings", netns: net, opts: &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD}}, wantErr: errdefs.ErrInvalidArgument},
		{
			name: "user namespace", netns: net, wantHostname: "podhost",
			opts: &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
				Uids: []*runtime.IDMapping{{HostId: 1000, Length: 65536}}, Gids: []*runtime.IDMapping{{HostId: 1000, Length: 65536}}}},
			want: map[specs.LinuxNamespaceType]string{specs.MountNamespace: "", specs.NetworkNamespace: net, specs.UTSNamespace: "", specs.IPCNamespace: "", specs.PIDNamespace: "", specs.UserNamespace: ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sandboxInput(t)
			in.NetNSPath, in.Hostname = tc.netns, tc.hostname
			in.Config.Linux.SecurityContext.NamespaceOptions = tc.opts
			s, err := GenerateSandbox(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			got := map[specs.LinuxNamespaceType]string{}
			for _, ns := range s.Linux.Namespaces {
				got[ns.Type] = ns.Path
			}
			if len(got) != len(s.Linux.Namespaces) || len(got) != len(tc.want) {
				t.Fatalf("namespaces = %+v, want %v", s.Linux.Namespaces, tc.want)
			}
			for typ, p := range tc.want {
				if gp, ok := got[typ]; !ok || gp != p {
					t.Fatalf("namespaces = %v, want %v", got, tc.want)
				}
			}
			if s.Hostname != tc.wantHostname {
				t.Fatalf("hostname = %q, want %q", s.Hostname, tc.wantHostname)
			}
		})
	}
}

func TestGenerateSandboxProcess(t *testing.T) {
	for _, tc := range []struct {
		name      string
		image     ocispec.ImageConfig
		sc        *runtime.LinuxSandboxSecurityContext
		passwd    string
		daemonOOM int
		wantArgs  []string
		wantUID   uint32
		wantGIDs  []uint32
		wantOOM   int
		wantErr   error
	}{
		{name: "entrypoint and cmd", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}, Cmd: []string{"-v"}}, wantArgs: []string{"/pause", "-v"}, wantGIDs: []uint32{0}, wantOOM: -998},
		{name: "cmd only", image: ocispec.ImageConfig{Cmd: []string{"/pause"}}, wantArgs: []string{"/pause"}, wantGIDs: []uint32{0}, wantOOM: -998},
		{name: "empty image", wantErr: errdefs.ErrInvalidArgument},
		{name: "image user 65535", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}, User: "65535:65535"}, wantArgs: []string{"/pause"}, wantUID: 65535, wantGIDs: []uint32{65535}, wantOOM: -998},
		{
			name: "RunAsUser and supplemental groups", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}},
			sc: &runtime.LinuxSandboxSecurityContext{RunAsUser: int64p(1000), SupplementalGroups: []int64{5}}, passwd: "app:x:1000:1000::/:/bin/sh\n",
			wantArgs: []string{"/pause"}, wantUID: 1000, wantGIDs: []uint32{5, 1000}, wantOOM: -998,
		},
		{name: "RunAsGroup without user", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}}, sc: &runtime.LinuxSandboxSecurityContext{RunAsGroup: int64p(5)}, wantErr: errdefs.ErrInvalidArgument},
		{name: "named user missing from the image", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}, User: "nobody"}, wantErr: errdefs.ErrNotFound},
		{name: "daemon oom score wins", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}}, daemonOOM: -500, wantArgs: []string{"/pause"}, wantGIDs: []uint32{0}, wantOOM: -500},
		{name: "daemon at 1 wins too", image: ocispec.ImageConfig{Entrypoint: []string{"/pause"}}, daemonOOM: 1, wantArgs: []string{"/pause"}, wantGIDs: []uint32{0}, wantOOM: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sandboxInput(t)
			in.Image = tc.image
			if tc.daemonOOM != 0 {
				in.DaemonOOMScoreAdj = tc.daemonOOM
			}
			if tc.sc != nil {
				in.Config.Linux.SecurityContext = tc.sc
			}
			if tc.passwd != "" {
				in.Rootfs = writeRootfs(t, map[string]string{"etc/passwd": tc.passwd})
			}
			s, err := GenerateSandbox(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if !slices.Equal(s.Process.Args, tc.wantArgs) || s.Process.User.UID != tc.wantUID || !slices.Equal(s.Process.User.AdditionalGids, tc.wantGIDs) || *s.Process.OOMScoreAdj != tc.wantOOM {
				t.Fatalf("args %q user %+v oom %d", s.Process.Args, s.Process.User, *s.Process.OOMScoreAdj)
			}
		})
	}
}

func TestGenerateSandboxSecurity(t *testing.T) {
	in := sandboxInput(t)
	in.Config.Linux.SecurityContext.Seccomp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}
	s, err := GenerateSandbox(in)
	checkErr(t, err, nil)
	if s.Linux.Seccomp != nil {
		t.Fatal("explicit unconfined ignored")
	}
	in = sandboxInput(t)
	in.Config.Linux.SecurityContext.Privileged = true
	s, err = GenerateSandbox(in)
	checkErr(t, err, nil)
	if s.Linux.Seccomp != nil || len(s.Process.Capabilities.Bounding) != 0 {
		t.Fatal("privileged pause: no seccomp, and still no capabilities")
	}
	// Pause makes the pod's sysfs superblock: read-write in a privileged
	// pod, or its privileged containers' /sys could not be written.
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && !slices.Contains(m.Options, "rw") {
			t.Fatalf("privileged pause: /sys options %v, want rw", m.Options)
		}
	}
	in = sandboxInput(t)
	//lint:ignore SA1019 deprecated field under test
	in.Config.Linux.SecurityContext.SeccompProfilePath = "bogus"
	_, err = GenerateSandbox(in)
	checkErr(t, err, errdefs.ErrInvalidArgument)

	for _, mutate := range []func(*SandboxInput){
		func(in *SandboxInput) { in.ID = "" },
		func(in *SandboxInput) { in.Config = nil },
		func(in *SandboxInput) { in.Rootfs = "" },
	} {
		in = sandboxInput(t)
		mutate(&in)
		_, err = GenerateSandbox(in)
		checkErr(t, err, errdefs.ErrInvalidArgument)
	}
}

func TestGenerateSandboxSysctls(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sysctls     map[string]string
		opts        *runtime.NamespaceOption
		ports, icmp bool
		want        map[string]string
		wantErr     error
	}{
		{name: "none"},
		{name: "namespaced ones pass", sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}, want: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}},
		{name: "unprivileged defaults", ports: true, icmp: true, want: map[string]string{"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}},
		{name: "pod value wins over the default", ports: true, sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}, want: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}},
		{name: "no network defaults for host network", ports: true, icmp: true, opts: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}},
		{name: "net sysctl refused on host network", opts: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}, sysctls: map[string]string{"net.core.somaxconn": "1024"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "ipc sysctl refused on host ipc", opts: &runtime.NamespaceOption{Ipc: runtime.NamespaceMode_NODE}, sysctls: map[string]string{"kernel.msgmax": "1"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "node sysctl refused", sysctls: map[string]string{"kernel.core_pattern": "|/evil"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "smuggled sysctl refused", sysctls: map[string]string{"kernel.shm_rmid_forced": "1+kernel.core_pattern=|/evil"}, wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sandboxInput(t)
			in.Config.Linux.Sysctls = tc.sysctls
			in.Config.Linux.SecurityContext.NamespaceOptions = tc.opts
			if tc.opts.GetNetwork() == runtime.NamespaceMode_NODE {
				in.NetNSPath = ""
			}
			in.EnableUnprivilegedPorts, in.EnableUnprivilegedICMP = tc.ports, tc.icmp
			s, err := GenerateSandbox(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if len(s.Linux.Sysctl) != len(tc.want) {
				t.Fatalf("sysctl = %v, want %v", s.Linux.Sysctl, tc.want)
			}
			for k, v := range tc.want {
				if s.Linux.Sysctl[k] != v {
					t.Fatalf("sysctl = %v, want %v", s.Linux.Sysctl, tc.want)
				}
			}
			if tc.sysctls != nil && len(tc.want) > len(tc.sysctls) {
				t.Fatal("the pod config's map was modified")
			}
		})
	}
}

func TestValidateSysctls(t *testing.T) {
	for _, tc := range []struct {
		name             string
		sysctls          map[string]string
		hostNet, hostIPC bool
		ok               bool
	}{
		{name: "empty", ok: true},
		{name: "net", sysctls: map[string]string{"net.ipv4.tcp_syncookies": "1"}, ok: true},
		{name: "net with interface name", sysctls: map[string]string{"net.ipv4.conf.eth0/100.forwarding": "1"}, ok: true},
		{name: "net on host network", sysctls: map[string]string{"net.ipv4.tcp_syncookies": "1"}, hostNet: true},
		{name: "net on host ipc", sysctls: map[string]string{"net.ipv4.tcp_syncookies": "1"}, hostIPC: true, ok: true},
		{name: "all ipc ones", sysctls: map[string]string{"kernel.shm_rmid_forced": "1", "kernel.shmmax": "1", "kernel.shmall": "1", "kernel.shmmni": "1", "kernel.msgmax": "1", "kernel.msgmnb": "1", "kernel.msgmni": "1", "kernel.sem": "250 32000 32 128", "fs.mqueue.msg_max": "10"}, ok: true},
		{name: "ipc on host ipc", sysctls: map[string]string{"kernel.sem": "1 2 3 4"}, hostIPC: true},
		{name: "mqueue on host ipc", sysctls: map[string]string{"fs.mqueue.queues_max": "1"}, hostIPC: true},
		{name: "ipc on host network", sysctls: map[string]string{"kernel.shmmax": "1"}, hostNet: true, ok: true},
		{name: "not namespaced", sysctls: map[string]string{"vm.overcommit_memory": "1"}},
		{name: "kernel but not ipc", sysctls: map[string]string{"kernel.shmfoo": "1"}},
		{name: "hostname is not allowed", sysctls: map[string]string{"kernel.hostname": "x"}},
		{name: "plus smuggling", sysctls: map[string]string{"net.ipv4.ip_forward": "1+kernel.core_pattern"}},
		{name: "equals smuggling", sysctls: map[string]string{"net.ipv4.ip_forward": "kernel.core_pattern=|/x"}},
		{name: "newline", sysctls: map[string]string{"net.ipv4.ip_forward": "1\n"}},
		{name: "bad name", sysctls: map[string]string{"net..ipv4": "1"}},
		{name: "name with =", sysctls: map[string]string{"net.ipv4.a=b": "1"}},
		{name: "name with +", sysctls: map[string]string{"net.ipv4.a+kernel.b": "1"}},
		{name: "empty name", sysctls: map[string]string{"": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSysctls(tc.sysctls, tc.hostNet, tc.hostIPC)
			if tc.ok {
				checkErr(t, err, nil)
			} else {
				checkErr(t, err, errdefs.ErrInvalidArgument)
			}
		})
	}
}
