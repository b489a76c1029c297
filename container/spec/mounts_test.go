package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestDefaultMounts(t *testing.T) {
	in := podInput(t)
	s, err := Generate(in)
	checkErr(t, err, nil)
	var got []string
	for _, m := range s.Mounts {
		got = append(got, m.Destination+":"+m.Type)
	}
	want := []string{"/proc:proc", "/dev:tmpfs", "/dev/pts:devpts", "/dev/shm:tmpfs", "/dev/mqueue:mqueue", "/sys:sysfs", "/sys/fs/cgroup:cgroup"}
	if !slices.Equal(got, want) {
		t.Fatalf("mounts = %q, want %q", got, want)
	}
}

func TestSandboxFileMounts(t *testing.T) {
	files := t.TempDir()
	hostname, hosts, resolv, shm := filepath.Join(files, "hostname"), filepath.Join(files, "hosts"), filepath.Join(files, "resolv.conf"), filepath.Join(files, "shm")
	for _, f := range []string{hostname, hosts, resolv} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(shm, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		readonly bool
		cri      []*runtime.Mount
		want     map[string]string // destination -> "source ro|rw"
		absent   []string
	}{
		{
			name: "read-write rootfs",
			want: map[string]string{"/etc/hostname": hostname + " rw", "/etc/hosts": hosts + " rw", "/etc/resolv.conf": resolv + " rw", "/dev/shm": shm + " rw"},
		},
		{
			name: "read-only rootfs makes the etc files read-only, not shm", readonly: true,
			want: map[string]string{"/etc/hostname": hostname + " ro", "/etc/hosts": hosts + " ro", "/etc/resolv.conf": resolv + " ro", "/dev/shm": shm + " rw"},
		},
		{
			name: "a CRI mount wins over the pod file",
			cri:  []*runtime.Mount{{ContainerPath: "/etc/hosts", HostPath: resolv, Readonly: true}},
			want: map[string]string{"/etc/hosts": resolv + " ro", "/etc/hostname": hostname + " rw"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.HostnamePath, in.HostsPath, in.ResolvConfPath, in.ShmPath = hostname, hosts, resolv, shm
			securityContext(&in).ReadonlyRootfs = tc.readonly
			in.Config.Mounts = tc.cri
			s, err := Generate(in)
			checkErr(t, err, nil)
			for dst, want := range tc.want {
				var found []specs.Mount
				for _, m := range s.Mounts {
					if m.Destination == dst {
						found = append(found, m)
					}
				}
				if len(found) != 1 {
					t.Fatalf("%d mounts at %s: %+v", len(found), dst, found)
				}
				m := found[0]
				mode := "rw"
				if slices.Contains(m.Options, "ro") {
					mode = "ro"
				}
				if m.Type != "bind" || m.Source+" "+mode != want || !slices.Contains(m.Options, "rbind") || !slices.Contains(m.Options, "rprivate") {
					t.Errorf("mount at %s = %+v, want %s", dst, m, want)
				}
			}
		})
	}
}

func TestCRIMounts(t *testing.T) {
	host := t.TempDir()
	src := filepath.Join(host, "data")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	srcLink := filepath.Join(host, "data-link")
	if err := os.Symlink(src, srcLink); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(host, "not", "yet")

	// The image has var/run -> /run, and a symlink trying to leave the
	// rootfs.
	rootfsWith := func(t *testing.T) string {
		root := userRootfs(t)
		for link, target := range map[string]string{"var/run": "/run", "escape": "../../../../../../../../tmp", "abs-escape": "/"} {
			p := filepath.Join(root, link)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}

	type want struct {
		dst, src string
		options  []string
	}
	for _, tc := range []struct {
		name        string
		mount       *runtime.Mount
		optional    string // mountinfo optional fields of the source's mount
		want        want
		propagation string
		wantErr     error
	}{
		{name: "rw private", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src}, want: want{"/data", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "ro", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Readonly: true}, want: want{"/data", src, []string{"rbind", "rprivate", "ro"}}},
		{name: "recursive ro", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Readonly: true, RecursiveReadOnly: true}, want: want{"/data", src, []string{"rbind", "rprivate", "rro"}}},
		{name: "recursive ro needs ro", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, RecursiveReadOnly: true}, wantErr: errdefs.ErrInvalidArgument},
		{name: "recursive ro needs private", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Readonly: true, RecursiveReadOnly: true, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, optional: "shared:1", wantErr: errdefs.ErrInvalidArgument},
		{name: "host to container on shared", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, optional: "shared:1", want: want{"/data", src, []string{"rbind", "rslave", "rw"}}, propagation: "rslave"},
		{name: "host to container on slave", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, optional: "master:3", want: want{"/data", src, []string{"rbind", "rslave", "rw"}}, propagation: "rslave"},
		{name: "host to container on private", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, wantErr: errdefs.ErrFailedPrecondition},
		{name: "bidirectional on shared", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL}, optional: "shared:1 master:2", want: want{"/data", src, []string{"rbind", "rshared", "rw"}}, propagation: "rshared"},
		{name: "bidirectional on slave", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL}, optional: "master:2", wantErr: errdefs.ErrFailedPrecondition},
		{name: "unknown propagation", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, Propagation: 9}, wantErr: errdefs.ErrInvalidArgument},
		{name: "source symlink resolved", mount: &runtime.Mount{ContainerPath: "/data", HostPath: srcLink}, want: want{"/data", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "missing source created", mount: &runtime.Mount{ContainerPath: "/new", HostPath: missing}, want: want{"/new", missing, []string{"rbind", "rprivate", "rw"}}},
		{name: "destination through an image symlink", mount: &runtime.Mount{ContainerPath: "/var/run/secrets", HostPath: src}, want: want{"/run/secrets", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "relative escape stays in rootfs", mount: &runtime.Mount{ContainerPath: "/escape/x", HostPath: src}, want: want{"/tmp/x", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "absolute escape stays in rootfs", mount: &runtime.Mount{ContainerPath: "/abs-escape/etc", HostPath: src}, want: want{"/etc", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "dot-dot in destination stays in rootfs", mount: &runtime.Mount{ContainerPath: "/../../etc/x", HostPath: src}, want: want{"/etc/x", src, []string{"rbind", "rprivate", "rw"}}},
		{name: "relative destination", mount: &runtime.Mount{ContainerPath: "data", HostPath: src}, wantErr: errdefs.ErrInvalidArgument},
		{name: "no host path", mount: &runtime.Mount{ContainerPath: "/data"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "unresolved image volume", mount: &runtime.Mount{ContainerPath: "/data", Image: &runtime.ImageSpec{Image: "busybox"}}, wantErr: errdefs.ErrInvalidArgument},
		{name: "idmapped", mount: &runtime.Mount{ContainerPath: "/data", HostPath: src, UidMappings: []*runtime.IDMapping{{HostId: 1000, ContainerId: 0, Length: 1}}}, wantErr: errdefs.ErrNotImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeMounts(t, tc.optional)
			in := podInput(t)
			in.Rootfs = rootfsWith(t)
			in.Config.Mounts = []*runtime.Mount{tc.mount}
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			m := findMount(s, tc.want.dst)
			if m == nil {
				t.Fatalf("no mount at %s in %+v", tc.want.dst, s.Mounts)
			}
			if m.Type != "bind" || m.Source != tc.want.src || !slices.Equal(m.Options, tc.want.options) {
				t.Fatalf("mount = %+v, want %+v", *m, tc.want)
			}
			if s.Linux.RootfsPropagation != tc.propagation {
				t.Fatalf("rootfs propagation = %q, want %q", s.Linux.RootfsPropagation, tc.propagation)
			}
			if st, err := os.Stat(tc.want.src); err != nil || !st.IsDir() {
				t.Fatalf("source %s: %v", tc.want.src, err)
			}
			// Resolution never creates anything in the rootfs.
			if _, err := os.Lstat(filepath.Join(in.Rootfs, "tmp")); err == nil {
				t.Fatal("rootfs was modified")
			}
		})
	}
}

// A propagation of rshared set by one mount is not lowered to rslave by a
// later one.
func TestRootfsPropagationKeepsShared(t *testing.T) {
	fakeMounts(t, "shared:1")
	a, b := t.TempDir(), t.TempDir()
	in := podInput(t)
	in.Config.Mounts = []*runtime.Mount{
		{ContainerPath: "/a", HostPath: a, Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		{ContainerPath: "/b", HostPath: b, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	}
	s, err := Generate(in)
	checkErr(t, err, nil)
	if s.Linux.RootfsPropagation != "rshared" {
		t.Fatalf("rootfs propagation = %q, want rshared", s.Linux.RootfsPropagation)
	}
}

func TestMountOverridesAndOrder(t *testing.T) {
	dir := t.TempDir()
	in := podInput(t)
	in.ShmPath = filepath.Join(dir, "shm-from-pod")
	if err := os.Mkdir(in.ShmPath, 0o755); err != nil {
		t.Fatal(err)
	}
	in.Config.Mounts = []*runtime.Mount{
		{ContainerPath: "/a/b/c", HostPath: filepath.Join(dir, "abc")},
		{ContainerPath: "/a", HostPath: filepath.Join(dir, "a")},
		{ContainerPath: "/proc/", HostPath: filepath.Join(dir, "proc")}, // replaces the default /proc (path cleaned)
		{ContainerPath: "/dev", HostPath: filepath.Join(dir, "dev")},    // replaces /dev and everything below it
		{ContainerPath: "/a/b", HostPath: filepath.Join(dir, "ab")},
	}
	s, err := Generate(in)
	checkErr(t, err, nil)
	var got []string
	for _, m := range s.Mounts {
		got = append(got, m.Destination+":"+m.Type)
	}
	// Stable by depth; the pod's /dev/shm still goes on top of a CRI /dev
	// (containerd keeps it: it is shared by the pod's containers).
	want := []string{"/sys:sysfs", "/sys/fs/cgroup:cgroup", "/a:bind", "/proc:bind", "/dev:bind", "/a/b:bind", "/dev/shm:bind", "/a/b/c:bind"}
	if !slices.Equal(got, want) {
		t.Fatalf("mounts = %q, want %q", got, want)
	}
	if m := findMount(s, "/dev/shm"); m.Source != filepath.Join(dir, "shm-from-pod") {
		t.Fatalf("/dev/shm = %+v", m)
	}
}

// Pod files that do not exist are skipped, not created.
func TestMissingPodFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	in := podInput(t)
	in.HostsPath = filepath.Join(dir, "hosts")
	s, err := Generate(in)
	checkErr(t, err, nil)
	if m := findMount(s, "/etc/hosts"); m != nil {
		t.Fatalf("missing hosts file mounted: %+v", m)
	}
	if _, err := os.Lstat(in.HostsPath); err == nil {
		t.Fatal("missing hosts file was created")
	}
}

func TestImageVolumesAreSkipped(t *testing.T) {
	in := podInput(t)
	in.Image.Volumes = map[string]struct{}{"/var/lib/data": {}}
	s, err := Generate(in)
	checkErr(t, err, nil)
	if m := findMount(s, "/var/lib/data"); m != nil {
		t.Fatalf("image volume mounted: %+v", m)
	}
	if _, err := os.Lstat(filepath.Join(in.Rootfs, "var")); err == nil {
		t.Fatal("image volume directory created in the rootfs")
	}
}
