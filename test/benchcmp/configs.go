package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// paths are what both runtimes are configured from.
type paths struct {
	krillBin      string // directory of krilld, krill-shim, krill-pause
	containerdBin string // directory of containerd and containerd-shim-runc-v2
	runc          string // the one runc binary both use
	certsDir      string // hosts.toml mirrors to the local test registry
	pauseImage    string
}

// krillDaemon configures krilld like the e2e harness does: private root,
// state, socket and NRI socket, the CNI conflist of its own bridge,
// cgroupfs, the given runc, the test registry's pause image.
func krillDaemon(d *daemon, p paths) error {
	cfg := filepath.Join(d.dir, "krill.toml")
	// state stays short: shim sockets live below it (107-byte limit).
	body := fmt.Sprintf(`root = %q
state = %q
listen = "unix://%s"
log_level = "info"
pause_image = %q
[runtime]
runc_path = %q
shim_path = %q
pause_binary = %q
[registry]
config_path = %q
[cni]
conf_dir = %q
bin_dirs = ["/usr/lib/cni"]
[cgroup]
driver = "cgroupfs"
[nri]
socket_path = %q
plugin_path = %q
plugin_config_path = %q
`, filepath.Join(d.dir, "root"), filepath.Join(d.dir, "s"), d.sock, p.pauseImage,
		p.runc, filepath.Join(p.krillBin, "krill-shim"), filepath.Join(p.krillBin, "krill-pause"),
		p.certsDir, filepath.Join(d.dir, "net.d"),
		filepath.Join(d.dir, "nri.sock"), filepath.Join(d.dir, "nri-plugins"), filepath.Join(d.dir, "nri-conf.d"))
	d.argv = []string{filepath.Join(p.krillBin, "krilld"), "--config", cfg}
	return os.WriteFile(cfg, []byte(body), 0o644)
}

// containerdConfig is containerd 2.x's config (version 3). Only private
// paths: root, state, gRPC and ttrpc sockets, shim sockets, runc root,
// netns mounts (under state), NRI socket, /opt plugin dir. Its CRI plugin
// gets the same runc, cgroupfs, CNI conflist and registry mirrors as
// Krill, the same pause image as sandbox image, and
// restrict_oom_score_adj (this host cannot lower oom_score_adj, see
// ../shared/notes/machine.md). NRI stays on, as in Krill.
var containerdConfig = template.Must(template.New("containerd").Parse(`version = 3
root = "{{.Dir}}/root"
state = "{{.State}}"
[grpc]
  address = "{{.Sock}}"
[ttrpc]
  address = "{{.Sock}}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{{.Dir}}/opt"
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "{{.State}}/sh"
[plugins."io.containerd.nri.v1.nri"]
  socket_path = "{{.Dir}}/nri.sock"
  plugin_path = "{{.Dir}}/nri-plugins"
  plugin_config_path = "{{.Dir}}/nri-conf.d"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{{.Pause}}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{{.Certs}}"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{{.Runc}}"
        Root = "{{.State}}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{{.Dir}}/net.d"
    max_conf_num = 1
`))

// containerdDaemon configures containerd from containerdConfig; its shim
// is found on PATH.
func containerdDaemon(d *daemon, p paths) error {
	var b strings.Builder
	err := containerdConfig.Execute(&b, map[string]string{
		"Dir": d.dir, "State": filepath.Join(d.dir, "s"), "Sock": d.sock,
		"Pause": p.pauseImage, "Certs": p.certsDir, "Runc": p.runc,
	})
	if err != nil {
		return err
	}
	cfg := filepath.Join(d.dir, "containerd.toml")
	d.argv = []string{filepath.Join(p.containerdBin, "containerd"), "--config", cfg}
	d.env = []string{"PATH=" + p.containerdBin + ":" + os.Getenv("PATH")}
	return os.WriteFile(cfg, []byte(b.String()), 0o644)
}
