package spec

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestProcessArgs(t *testing.T) {
	for _, tc := range []struct {
		name            string
		command, args   []string
		entrypoint, cmd []string
		want            []string
		wantErr         error
	}{
		{name: "image only", entrypoint: []string{"/ep"}, cmd: []string{"a", "b"}, want: []string{"/ep", "a", "b"}},
		{name: "image cmd only", cmd: []string{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "command replaces entrypoint and cmd", command: []string{"/bin/echo"}, entrypoint: []string{"/ep"}, cmd: []string{"x"}, want: []string{"/bin/echo"}},
		{name: "command and args", command: []string{"/bin/echo"}, args: []string{"hi"}, entrypoint: []string{"/ep"}, cmd: []string{"x"}, want: []string{"/bin/echo", "hi"}},
		{name: "args replace cmd", args: []string{"y", "z"}, entrypoint: []string{"/ep"}, cmd: []string{"x"}, want: []string{"/ep", "y", "z"}},
		{name: "args without entrypoint", args: []string{"/bin/ls"}, cmd: []string{"x"}, want: []string{"/bin/ls"}},
		{name: "empty-string entrypoint means none", entrypoint: []string{""}, cmd: []string{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "nothing at all", wantErr: errdefs.ErrInvalidArgument},
		{name: "only an empty entrypoint", entrypoint: []string{""}, wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &runtime.ContainerConfig{Command: tc.command, Args: tc.args}
			got, err := processArgs(cfg, &ocispec.ImageConfig{Entrypoint: tc.entrypoint, Cmd: tc.cmd})
			checkErr(t, err, tc.wantErr)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("args = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessEnv(t *testing.T) {
	kv := func(k, v string) *runtime.KeyValue { return &runtime.KeyValue{Key: k, Value: []byte(v)} }
	for _, tc := range []struct {
		name     string
		imageEnv []string
		criEnv   []*runtime.KeyValue
		want     []string
	}{
		{name: "defaults", want: []string{defaultPath, "HOSTNAME=h"}},
		{name: "image PATH replaces default in place", imageEnv: []string{"PATH=/img", "A=1"}, want: []string{"PATH=/img", "HOSTNAME=h", "A=1"}},
		{name: "CRI overrides image by key", imageEnv: []string{"A=1", "B=2"}, criEnv: []*runtime.KeyValue{kv("B", "cri"), kv("C", "3")}, want: []string{defaultPath, "HOSTNAME=h", "A=1", "B=cri", "C=3"}},
		{name: "CRI can override HOSTNAME and PATH", criEnv: []*runtime.KeyValue{kv("HOSTNAME", "x"), kv("PATH", "/p")}, want: []string{"PATH=/p", "HOSTNAME=x"}},
		{name: "image entry without = unsets", imageEnv: []string{"A=1", "A"}, want: []string{defaultPath, "HOSTNAME=h"}},
		{name: "empty CRI value kept", criEnv: []*runtime.KeyValue{kv("E", "")}, want: []string{defaultPath, "HOSTNAME=h", "E="}},
		{name: "value with =", criEnv: []*runtime.KeyValue{kv("Q", "a=b")}, want: []string{defaultPath, "HOSTNAME=h", "Q=a=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := processEnv("h", tc.imageEnv, tc.criEnv)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("env = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProcessCwd(t *testing.T) {
	for _, tc := range []struct{ cri, image, want string }{
		{"", "", "/"},
		{"", "/img", "/img"},
		{"/cri", "/img", "/cri"},
	} {
		if got := processCwd(tc.cri, tc.image); got != tc.want {
			t.Errorf("processCwd(%q, %q) = %q, want %q", tc.cri, tc.image, got, tc.want)
		}
	}
}

func TestUserString(t *testing.T) {
	for _, tc := range []struct {
		name      string
		username  string
		uid, gid  *runtime.Int64Value
		imageUser string
		want      string
		wantErr   error
	}{
		{name: "nothing", want: ""},
		{name: "image user", imageUser: "www-data:1004", want: "www-data:1004"},
		{name: "RunAsUser beats image", uid: int64p(1001), imageUser: "www-data", want: "1001"},
		{name: "RunAsUsername beats RunAsUser", username: "nobody", uid: int64p(1001), want: "nobody"},
		{name: "RunAsGroup appended", uid: int64p(1001), gid: int64p(1002), want: "1001:1002"},
		{name: "RunAsUser 0", uid: int64p(0), imageUser: "app", want: "0"},
		{name: "RunAsGroup without user", gid: int64p(1002), wantErr: errdefs.ErrInvalidArgument},
		{name: "RunAsGroup without user, image user set", gid: int64p(1002), imageUser: "app", wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := userString(tc.username, tc.uid, tc.gid, tc.imageUser)
			checkErr(t, err, tc.wantErr)
			if got != tc.want {
				t.Fatalf("user = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolveUser(t *testing.T) {
	rootfs := userRootfs(t)
	strict := runtime.SupplementalGroupsPolicy_Strict // Merge is the zero value
	for _, tc := range []struct {
		name         string
		rootfs       string
		user         string
		policy       runtime.SupplementalGroupsPolicy
		supplemental []int64
		want         specs.User
		wantErr      error
	}{
		{name: "default is root", user: "", want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "uid in passwd takes its gid and groups", user: "1000", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 2000}}},
		{name: "name", user: "www-data", want: specs.User{UID: 33, GID: 33, AdditionalGids: []uint32{29, 33, 2000}}},
		{name: "uid not in passwd gets gid 0", user: "1234", want: specs.User{UID: 1234, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "uid:gid", user: "1003:1004", want: specs.User{UID: 1003, GID: 1004, AdditionalGids: []uint32{1004}}},
		{name: "name:gid", user: "www-data:1004", want: specs.User{UID: 33, GID: 1004, AdditionalGids: []uint32{29, 1004, 2000}}},
		{name: "uid:group name", user: "1000:extra", want: specs.User{UID: 1000, GID: 2000, AdditionalGids: []uint32{2000}}},
		{name: "name:group name", user: "app:sys", want: specs.User{UID: 1000, GID: 3, AdditionalGids: []uint32{3, 2000}}},
		{name: "merge adds supplemental", user: "1000", supplemental: []int64{1234, 5678, 2000}, want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 1234, 2000, 5678}}},
		{name: "strict skips /etc/group", user: "1000", policy: strict, supplemental: []int64{1234}, want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 1234}}},
		{name: "own-named group is not supplemental", user: "app", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 2000}}},
		{name: "no passwd: numeric works", rootfs: t.TempDir(), user: "1002", want: specs.User{UID: 1002, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "no passwd: name fails", rootfs: t.TempDir(), user: "www-data", wantErr: errdefs.ErrNotFound},
		{name: "unknown user", user: "ghost", wantErr: errdefs.ErrNotFound},
		{name: "unknown group", user: "1000:ghosts", wantErr: errdefs.ErrNotFound},
		{name: "uid out of range", user: "4294967296", wantErr: errdefs.ErrInvalidArgument},
		{name: "uid above int32", user: "2147483648", wantErr: errdefs.ErrInvalidArgument},
		{name: "negative uid", user: "-1", wantErr: errdefs.ErrInvalidArgument},
		{name: "three parts", user: "a:b:c", wantErr: errdefs.ErrInvalidArgument},
		{name: "group without user", user: ":1000", wantErr: errdefs.ErrInvalidArgument},
		{name: "bad supplemental group", user: "1000", supplemental: []int64{-5}, wantErr: errdefs.ErrInvalidArgument},
		{name: "unknown policy", user: "1000", policy: 7, wantErr: errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.rootfs
			if root == "" {
				root = rootfs
			}
			got, err := resolveUser(root, tc.user, tc.policy, tc.supplemental)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if got.UID != tc.want.UID || got.GID != tc.want.GID || !slices.Equal(got.AdditionalGids, tc.want.AdditionalGids) {
				t.Fatalf("user = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// An image whose /etc/passwd is a symlink to an absolute path must be read
// inside its rootfs, never from the host.
func TestUserFilesDoNotEscapeRootfs(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		filepath.Join(outside, "passwd"),                 // absolute
		"../../../../../../../../" + outside + "/passwd", // climbing
	} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, "etc", "passwd")); err != nil {
			t.Fatal(err)
		}
		_, err := resolveUser(root, "evil", runtime.SupplementalGroupsPolicy_Merge, nil)
		checkErr(t, err, errdefs.ErrNotFound)
	}
	// Control: the same file inside the rootfs is found.
	root := writeRootfs(t, map[string]string{"etc/passwd": "evil:x:7:7::/:/bin/sh\n"})
	u, err := resolveUser(root, "evil", runtime.SupplementalGroupsPolicy_Merge, nil)
	checkErr(t, err, nil)
	if u.UID != 7 {
		t.Fatalf("uid = %d, want 7", u.UID)
	}
}

func TestGenerateUserAndRunAsNonRoot(t *testing.T) {
	for _, tc := range []struct {
		name         string
		imageUser    string
		runAsUser    *runtime.Int64Value
		runAsNonRoot bool
		wantUID      uint32
		wantErr      error
	}{
		{name: "image numeric user", imageUser: "1000", runAsNonRoot: true, wantUID: 1000},
		{name: "no user is root", runAsNonRoot: false, wantUID: 0},
		{name: "nonroot refuses default root", runAsNonRoot: true, wantErr: errdefs.ErrFailedPrecondition},
		{name: "nonroot refuses a name resolving to 0", imageUser: "toor", runAsNonRoot: true, wantErr: errdefs.ErrFailedPrecondition},
		{name: "nonroot refuses 0:gid", imageUser: "0:1000", runAsNonRoot: true, wantErr: errdefs.ErrFailedPrecondition},
		{name: "nonroot refuses an unverifiable name", imageUser: "ghost", runAsNonRoot: true, wantErr: errdefs.ErrNotFound},
		{name: "nonroot refuses RunAsUser 0", imageUser: "1000", runAsUser: int64p(0), runAsNonRoot: true, wantErr: errdefs.ErrFailedPrecondition},
		{name: "RunAsUser beats image root", imageUser: "root", runAsUser: int64p(65534), runAsNonRoot: true, wantUID: 65534},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.Image.User = tc.imageUser
			in.RunAsNonRoot = tc.runAsNonRoot
			securityContext(&in).RunAsUser = tc.runAsUser
			s, err := Generate(in)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if s.Process.User.UID != tc.wantUID {
				t.Fatalf("uid = %d, want %d", s.Process.User.UID, tc.wantUID)
			}
		})
	}
}

// TestUserFilesRefuseNonRegular: an image's /etc/passwd or /etc/group that
// is a FIFO (reading it would block CreateContainer forever), a device node
// (krilld would open a host device), a symlink to either, or a file over
// the size cap is refused with InvalidArgument, quickly.
func TestUserFilesRefuseNonRegular(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod of a device node needs root")
	}
	for _, tc := range []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }},
		{"char device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))) }}, // /dev/null
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"symlink to fifo", func(p string) error {
			if err := unix.Mkfifo(filepath.Join(filepath.Dir(p), "pipe"), 0o644); err != nil {
				return err
			}
			return os.Symlink("/etc/pipe", p) // absolute: resolved inside the rootfs
		}},
		{"huge", func(p string) error {
			return os.WriteFile(p, bytes.Repeat([]byte("u:x:1:1::/:/bin/sh\n"), maxUserFileSize/19+1), 0o644)
		}},
	} {
		for _, file := range []string{"passwd", "group"} {
			t.Run(tc.name+"/"+file, func(t *testing.T) {
				root := writeRootfs(t, map[string]string{"etc/passwd": "root:x:0:0::/:/bin/sh\n", "etc/group": "root:x:0:\n"})
				p := filepath.Join(root, "etc", file)
				os.Remove(p)
				if err := tc.make(p); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					_, err := resolveUser(root, "root:root", runtime.SupplementalGroupsPolicy_Merge, nil)
					done <- err
				}()
				select {
				case err := <-done:
					checkErr(t, err, errdefs.ErrInvalidArgument)
				case <-time.After(10 * time.Second):
					// Not a timing assertion: the old code never returns.
					t.Fatal("resolveUser blocked on the image's user file")
				}
			})
		}
	}
}
