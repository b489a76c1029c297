package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// walk calls f for every string value in a decoded TOML document.
func walk(v any, key string, f func(key, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			walk(c, key+"."+k, f)
		}
	case []any:
		for _, c := range x {
			walk(c, key, f)
		}
	case string:
		f(key, x)
	}
}

// TestConfigsArePrivate: both runtimes' configs parse, and every path in
// them is below the run's directory, except the shared read-only inputs
// (runc, CNI plugins, binaries, mirrors). A default such as
// /run/containerd or /var/run/nri/nri.sock left in would share state with
// another runtime on the machine.
func TestConfigsArePrivate(t *testing.T) {
	dir := t.TempDir()
	p := paths{krillBin: "/repo/bin", containerdBin: "/cache/containerd", runc: "/usr/sbin/runc",
		certsDir: filepath.Join(dir, "certs.d"), pauseImage: "registry.k8s.io/pause:3.10"}
	shared := []string{"/repo/bin/", "/cache/containerd/", "/usr/sbin/runc", "/usr/lib/cni", "127.0.0.1"}
	for _, c := range []struct {
		name      string
		configure func(*daemon, paths) error
		file      string
		want      []string // keys that must be set
	}{
		{"krill", krillDaemon, "krill.toml", []string{".state", ".nri.socket_path", ".runtime.runc_path", ".cni.conf_dir"}},
		{"containerd", containerdDaemon, "containerd.toml", []string{".state", ".grpc.address",
			`.plugins.io.containerd.shim.v1.manager.socket_dir`, `.plugins.io.containerd.nri.v1.nri.socket_path`,
			`.plugins.io.containerd.cri.v1.runtime.containerd.runtimes.runc.options.Root`,
			`.plugins.io.containerd.cri.v1.runtime.containerd.runtimes.runc.options.BinaryName`}},
	} {
		d := &daemon{name: c.name, dir: filepath.Join(dir, c.name[:1])}
		d.sock = filepath.Join(d.dir, c.name+".sock")
		os.MkdirAll(d.dir, 0o755)
		if err := c.configure(d, p); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(d.dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := toml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, b)
		}
		seen := map[string]bool{}
		walk(doc, "", func(key, s string) {
			seen[key] = true
			if !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "unix:///") {
				return // not a path: a level, a type, an image name
			}
			s = strings.TrimPrefix(s, "unix://")
			if strings.HasPrefix(s, dir+"/") {
				return
			}
			for _, ok := range shared {
				if strings.HasPrefix(s, ok) {
					return
				}
			}
			t.Errorf("%s: %s = %q is outside the run's directory", c.name, key, s)
		})
		for _, k := range c.want {
			if !seen[k] {
				t.Errorf("%s: %s not set", c.name, k)
			}
		}
	}
}
