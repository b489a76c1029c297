package image

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/krill-runtime/krill/test/testregistry"
)

// TestMaliciousLayersStayInside pulls layers built to write outside the
// snapshot and proves nothing lands outside: not in a host directory the
// layers aim at, not next to the image store, not in /. Whether
// containerd's applier rejects an entry or confines it inside the rootfs,
// both are safe; writing outside is the only failure.
func TestMaliciousLayersStayInside(t *testing.T) {
	host := t.TempDir() // the "host" directory the layers try to reach
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostRel := strings.Repeat("../", 30) + strings.TrimPrefix(host, "/")
	file := func(name string) testregistry.File {
		return testregistry.File{Name: name, Body: []byte("pwned")}
	}
	link := func(name, target string) testregistry.File {
		return testregistry.File{Name: name, Type: tar.TypeSymlink, Linkname: target}
	}
	cases := []struct {
		name   string
		layers [][]byte
	}{
		{"dot-dot path", [][]byte{testregistry.Tar(file(hostRel + "/dotdot"))}},
		{"dot-dot to root", [][]byte{testregistry.Tar(file("../../../../../../../../../../krill-evil-dotdot"))}},
		{"absolute path", [][]byte{testregistry.Tar(file(host + "/absolute"))}},
		{"absolute symlink then file", [][]byte{testregistry.Tar(link("abs-link", host), file("abs-link/through-abs-link"))}},
		{"relative symlink then file", [][]byte{testregistry.Tar(link("rel-link", hostRel), file("rel-link/through-rel-link"))}},
		{"symlink in lower layer", [][]byte{
			testregistry.Tar(link("lower-link", host)),
			testregistry.Tar(file("lower-link/through-lower-layer")),
		}},
		{"symlink chain", [][]byte{testregistry.Tar(link("a", "b"), link("b", "../../../.."+host), file("a/through-chain"))}},
		{"hardlink to host file", [][]byte{testregistry.Tar(testregistry.File{Name: "hard", Type: tar.TypeLink, Linkname: secret})}},
		{"hardlink via dot-dot", [][]byte{testregistry.Tar(testregistry.File{Name: "hard2", Type: tar.TypeLink, Linkname: hostRel + "/secret"})}},
		{"symlink overwritten file", [][]byte{
			testregistry.Tar(link("victim", secret)),
			testregistry.Tar(testregistry.File{Name: "victim", Body: []byte("overwritten")}),
		}},
		// Whiteouts delete: through a directory symlinked out in a lower
		// layer they would delete host files.
		{"whiteout through symlinked dir in lower layer", [][]byte{
			testregistry.Tar(link("wdir", host)),
			testregistry.Tar(file("wdir/.wh.secret")),
		}},
		{"opaque whiteout through symlinked dir in lower layer", [][]byte{
			testregistry.Tar(link("odir", host)),
			testregistry.Tar(testregistry.File{Name: "odir/", Type: tar.TypeDir}, file("odir/.wh..wh..opq")),
		}},
		{"opaque whiteout through relative symlink", [][]byte{
			testregistry.Tar(link("rdir", hostRel)),
			testregistry.Tar(file("rdir/.wh..wh..opq")),
		}},
		{"whiteout with dot-dot", [][]byte{testregistry.Tar(file(hostRel + "/.wh.secret"))}},
		{"whiteout of a dot-dot name", [][]byte{testregistry.Tar(file(".wh.." + hostRel + "/secret"))}},
		{"fifos", [][]byte{testregistry.Tar(
			testregistry.File{Name: "evil-fifo", Type: tar.TypeFifo, Mode: 0o666},
			testregistry.File{Name: hostRel + "/evil-fifo", Type: tar.TypeFifo, Mode: 0o666},
		)}},
		{"fifo through symlinked dir in lower layer", [][]byte{
			testregistry.Tar(link("fdir", host)),
			testregistry.Tar(testregistry.File{Name: "fdir/evil-fifo", Type: tar.TypeFifo, Mode: 0o666}),
		}},
		{"device through symlinked dir in lower layer", [][]byte{
			testregistry.Tar(link("ddir", host)),
			testregistry.Tar(testregistry.File{Name: "ddir/evil-dev", Type: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666}),
		}},
		{"device nodes", [][]byte{testregistry.Tar(
			testregistry.File{Name: "dev/", Type: tar.TypeDir},
			testregistry.File{Name: "dev/evil-block", Type: tar.TypeBlock, Devmajor: 7, Devminor: 0, Mode: 0o666},
			testregistry.File{Name: "dev/evil-mem", Type: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666},
			testregistry.File{Name: hostRel + "/evil-dev", Type: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666},
		)}},
	}

	reg := testregistry.Start(t, testregistry.Options{})
	s := newService(t, nil)
	ctx := context.Background()
	storeParent := filepath.Dir(s.cfg.Root)
	rootBefore := dirNames(t, "/")
	parentBefore := dirNames(t, storeParent)

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			built := reg.Push(t, "evil", string(rune('a'+i)), &testregistry.Image{Layers: tc.layers})
			img, err := s.Pull(ctx, reg.Ref("evil:"+string(rune('a'+i))), nil)
			if err != nil {
				t.Logf("pull refused: %v", err)
			} else if img.ID != built.ID() {
				t.Fatalf("ID %s != %s", img.ID, built.ID())
			}

			if got := dirNames(t, host); !slices.Equal(got, []string{"secret"}) {
				t.Errorf("host directory now holds %v", got)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(secret, &st); err != nil || st.Nlink != 1 {
				t.Errorf("host secret gained a hard link (nlink %d, %v)", st.Nlink, err)
			}
			if b, _ := os.ReadFile(secret); string(b) != "host secret" {
				t.Errorf("host secret overwritten: %q", b)
			}
			if got := dirNames(t, "/"); !slices.Equal(got, rootBefore) {
				t.Errorf("/ changed: %v -> %v", rootBefore, got)
			}
			if got := dirNames(t, storeParent); !slices.Equal(got, parentBefore) {
				t.Errorf("%s changed: %v -> %v", storeParent, parentBefore, got)
			}
			if err != nil {
				return
			}
			// What did land went inside the rootfs; show where.
			mounts, err := s.PrepareRootfs(ctx, "evil-"+string(rune('a'+i)), img.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			root := mountRootfs(t, mounts)
			filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if err == nil && p != root {
					t.Logf("inside rootfs: %s %v", strings.TrimPrefix(p, root), fi.Mode())
				}
				return nil
			})
			if err := syscall.Stat(filepath.Join(root, "hard"), &st); err == nil {
				var hs syscall.Stat_t
				syscall.Stat(secret, &hs)
				if st.Ino == hs.Ino && st.Dev == hs.Dev {
					t.Error("rootfs /hard is the host secret")
				}
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
