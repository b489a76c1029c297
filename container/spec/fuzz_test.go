package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// FuzzGenerate turns fuzzed CRI ContainerConfig and PodSandboxConfig
// messages (protobuf wire bytes, as the CRI socket receives them) into OCI
// specs. Generate and GenerateSandbox must return a spec or an error,
// never panic. Mount host paths are the kubelet's, trusted, and Generate
// creates missing ones like containerd: the fuzzer moves them below its
// temp directory so nothing is written anywhere else.
func FuzzGenerate(f *testing.F) {
	f.Fuzz(func(t *testing.T, ctrMsg, podMsg []byte) {
		ctr, pod := &runtime.ContainerConfig{}, &runtime.PodSandboxConfig{}
		if proto.Unmarshal(ctrMsg, ctr) != nil || proto.Unmarshal(podMsg, pod) != nil {
			return
		}
		tmp := t.TempDir()
		for _, m := range ctr.GetMounts() {
			m.HostPath = filepath.Join(tmp, "host", m.HostPath)
		}
		in := podInput(t)
		in.Config, in.Sandbox = ctr, pod
		in.AllowedAnnotations = AllowedAnnotations{Pod: []string{"*"}, Container: []string{"*"}}
		if s, err := Generate(in); err == nil && (s.Process == nil || s.Root == nil || s.Root.Path != in.Rootfs) {
			t.Fatalf("spec without process or with another root: %+v", s)
		}
		sin := sandboxInput(t)
		sin.Config = pod
		GenerateSandbox(sin)
		checkNoWriteOutside(t, tmp, in.Rootfs, sin.Rootfs)
	})
}

// checkNoWriteOutside fails when the fuzzed spec generation wrote into the
// image's rootfs (only reads are allowed there).
func checkNoWriteOutside(t *testing.T, tmp string, rootfs ...string) {
	t.Helper()
	for _, r := range rootfs {
		if strings.HasPrefix(r, tmp) {
			continue
		}
		filepath.Walk(r, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() && !strings.HasPrefix(p, filepath.Join(r, "etc")) {
				t.Fatalf("spec generation created %s in the rootfs", p)
			}
			return nil
		})
	}
}

// FuzzResolveUser parses fuzzed /etc/passwd and /etc/group files and USER
// strings: an identity or an error, never a panic, and never an id beyond
// what runc accepts.
func FuzzResolveUser(f *testing.F) {
	// One rootfs for all inputs, rewritten each time: a temp dir per input
	// costs more than the parsing.
	root := f.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, passwd, group []byte, user string, strict bool) {
		if os.WriteFile(filepath.Join(root, "etc", "passwd"), passwd, 0o644) != nil ||
			os.WriteFile(filepath.Join(root, "etc", "group"), group, 0o644) != nil {
			t.Fatal("write user files")
		}
		policy := runtime.SupplementalGroupsPolicy_Merge
		if strict {
			policy = runtime.SupplementalGroupsPolicy_Strict
		}
		u, err := resolveUser(root, user, policy, []int64{5})
		if err != nil {
			return
		}
		if u.UID > maxID || u.GID > maxID {
			t.Fatalf("id out of range: %+v", u)
		}
		for _, g := range u.AdditionalGids {
			if g > maxID {
				t.Fatalf("supplementary gid out of range: %+v", u)
			}
		}
		for _, e := range parsePasswd(passwd) {
			if e.name == "" || strings.Contains(e.name, ":") {
				t.Fatalf("bad passwd entry %+v", e)
			}
		}
	})
}
