package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "krill.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsWithoutFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/var/lib/krill" || c.State != "/run/krill" || c.Listen != "unix:///run/krill/krill.sock" {
		t.Errorf("dirs: %+v", c)
	}
	if c.PauseImage != "registry.k8s.io/pause:3.10" || c.Cgroup.Driver != "auto" {
		t.Errorf("pause/cgroup: %+v", c)
	}
	// containerd's defaults: image_pull_progress_timeout, max_concurrent_downloads.
	if c.Registry.ProgressTimeout.Duration != 5*time.Minute || c.Registry.MaxConcurrentDownloads != 3 {
		t.Errorf("progress timeout %s, downloads %d", c.Registry.ProgressTimeout, c.Registry.MaxConcurrentDownloads)
	}
	if c.Registry.PullTimeout.Duration != time.Hour || len(c.PinnedImages) != 0 {
		t.Errorf("pull timeout %s, pinned %v", c.Registry.PullTimeout, c.PinnedImages)
	}
	if strings.Join(c.CDI.SpecDirs, ",") != "/etc/cdi,/var/run/cdi" {
		t.Errorf("cdi spec dirs %v", c.CDI.SpecDirs)
	}
	if p, _ := c.SocketPath(); p != "/run/krill/krill.sock" {
		t.Errorf("socket path %q", p)
	}
}

func TestFileOverridesDefaults(t *testing.T) {
	c, err := Load(write(t, `
root = "/tmp/r"
log_level = "debug"
[registry]
config_path = "/etc/x"
progress_timeout = "5s"
[cni]
bin_dirs = ["/a"]
[streaming]
port = 10010
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != "/tmp/r" || c.LogLevel != "debug" || c.Registry.ConfigPath != "/etc/x" ||
		c.Registry.ProgressTimeout.Duration != 5*time.Second || len(c.CNI.BinDirs) != 1 || c.Streaming.Port != 10010 {
		t.Errorf("not overridden: %+v", c)
	}
	// Keys the file does not name keep their defaults.
	if c.State != "/run/krill" || c.CNI.ConfDir != "/etc/cni/net.d" {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown top key", "bogus = 1\n", "bogus"},
		{"unknown nested key", "[cni]\nconfdir = \"/x\"\n", "cni.confdir"},
		{"wrong type", "root = 5\n", "root"},
		{"bad duration", "[registry]\nprogress_timeout = \"soon\"\n", "registry.progress_timeout"},
		{"annotation pattern with an inner star", "[runtime]\npod_annotations = [\"a*b\"]\n", "runtime.pod_annotations"},
		{"relative root", "root = \"var/lib\"\n", "root"},
		{"state too long for sockets", "state = \"/var/run/a/very/long/state/directory\"\n", "too long"},
		{"bad listen", "listen = \"tcp://1.2.3.4:5\"\n", "listen"},
		{"bad log level", "log_level = \"loud\"\n", "log_level"},
		{"unknown driver", "[cgroup]\ndriver = \"sysd\"\n", "cgroup.driver"},
		{"bad port", "[streaming]\nport = 70000\n", "streaming.port"},
		{"bad address", "[streaming]\naddress = \"localhost\"\n", "streaming.address"},
		{"no bin dirs", "[cni]\nbin_dirs = []\n", "cni.bin_dirs"},
		{"relative nri socket", "[nri]\nsocket_path = \"nri.sock\"\n", "nri.socket_path"},
		{"zero nri timeout", "[nri]\nrequest_timeout = \"0s\"\n", "nri.request_timeout"},
		{"no downloads", "[registry]\nmax_concurrent_downloads = 0\n", "registry.max_concurrent_downloads"},
		{"negative pull timeout", "[registry]\npull_timeout = \"-1s\"\n", "registry.pull_timeout"},
		{"metrics address without port", "[metrics]\naddress = \"127.0.0.1\"\n", "metrics.address"},
		{"handler without path", "[runtime.handlers.kata]\nroot = \"/r\"\n", "runtime.handlers.kata.path"},
		{"bad handler name", "[runtime.handlers.Kata_1]\npath = \"x\"\n", "runtime.handlers.Kata_1"},
		{"bad handler type", "[runtime.handlers.k]\npath = \"x\"\ntype = \"kata\"\n", "runtime.handlers.k.type"},
		{"relative handler root", "[runtime.handlers.k]\npath = \"x\"\nroot = \"r\"\n", "runtime.handlers.k.root"},
		{"unknown default handler", "[runtime]\ndefault_handler = \"crun\"\n", "runtime.default_handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestHandlers(t *testing.T) {
	c, err := Load(write(t, `
[runtime]
default_handler = "crun"
[runtime.handlers.crun]
path = "/usr/bin/crun"
type = "crun"
[runtime.handlers.runc13]
path = "/opt/runc"
root = "/run/r13"
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Runtime.HandlerNames(), ","); got != "crun,runc,runc13" {
		t.Errorf("handlers %s, want the built-in runc plus the two of the file", got)
	}
	all := c.Runtime.AllHandlers()
	if all["runc"].Path != "runc" || all["runc13"].Type != "runc" || all["crun"].Type != "crun" {
		t.Errorf("handlers %+v", all)
	}
	for name, want := range map[string]string{"runc": "/run/krill/runc", "crun": "/run/krill/runtimes/crun", "runc13": "/run/r13"} {
		if got := c.HandlerRoot(name); got != want {
			t.Errorf("root of %s: %s, want %s", name, got, want)
		}
	}
}

// TestDocsListEveryKey keeps docs/config.md in step with the struct tags.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile("toml:\"([a-z_]+)\"").FindAllStringSubmatch(string(src), -1)
	if len(keys) < 10 {
		t.Fatalf("found only %d keys", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k[1]+"`") && !strings.Contains(string(doc), "."+k[1]+"`") && !strings.Contains(string(doc), "["+k[1]+"]") {
			t.Errorf("docs/config.md does not document key %q", k[1])
		}
	}
	// One row per key: a stale second row (an old default left behind when
	// the key changed) would contradict the first.
	rowKey := regexp.MustCompile("^\\|[^|]*`([a-z_]+\\.[a-z_.]+)`[^|]*\\|")
	seen := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		m := rowKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if seen[m[1]] {
			t.Errorf("docs/config.md has two rows for %q", m[1])
		}
		seen[m[1]] = true
	}
	if len(seen) < 10 {
		t.Errorf("found only %d table rows in docs/config.md", len(seen))
	}
}
