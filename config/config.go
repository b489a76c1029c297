// Package config owns krilld's configuration: the TOML file format, the
// embedded defaults and validation. Every key is documented in
// docs/config.md; a test keeps that page and Defaults() in step.
//
// It must never reach outside itself: it reads one file and returns values.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is krilld's whole configuration.
type Config struct {
	// Root holds persistent state: images, pod and container records.
	Root string `toml:"root"`
	// State holds runtime state that dies with the machine: sockets,
	// bundles, netns files, shim files.
	State string `toml:"state"`
	// Listen is the CRI endpoint, unix:///path.
	Listen string `toml:"listen"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// PauseImage is the sandbox image run as every pod's pause container.
	PauseImage string `toml:"pause_image"`
	// PinnedImages are reported pinned, so kubelet never garbage-collects
	// them (the pause image always is).
	PinnedImages []string `toml:"pinned_images"`

	Runtime   RuntimeConfig   `toml:"runtime"`
	Registry  RegistryConfig  `toml:"registry"`
	CNI       CNIConfig       `toml:"cni"`
	Cgroup    CgroupConfig    `toml:"cgroup"`
	CDI       CDIConfig       `toml:"cdi"`
	Streaming StreamingConfig `toml:"streaming"`
	NRI       NRIConfig       `toml:"nri"`
	Metrics   MetricsConfig   `toml:"metrics"`
}

// RuntimeConfig names the binaries krilld runs.
type RuntimeConfig struct {
	// RuncPath is the OCI runtime of the built-in "runc" handler; a bare
	// name is looked up in PATH.
	RuncPath string `toml:"runc_path"`
	// DefaultHandler is the handler pods asking for none ("") run under.
	DefaultHandler string `toml:"default_handler"`
	// Handlers are the RuntimeClass handlers pods may ask for by name.
	Handlers map[string]HandlerConfig `toml:"handlers"`
	// ShimPath is krill-shim; "" means next to the krilld binary, then PATH.
	ShimPath string `toml:"shim_path"`
	// PauseBinary is the static pause program used for the built-in pause
	// image; "" means krill-pause next to krilld, then PATH.
	PauseBinary string `toml:"pause_binary"`
	// PodAnnotations and ContainerAnnotations are the CRI annotations
	// passed into OCI specs (keys, or prefixes ending in "*"); none by
	// default, as annotations are knobs for OCI runtimes and hooks.
	PodAnnotations       []string `toml:"pod_annotations"`
	ContainerAnnotations []string `toml:"container_annotations"`
}

// HandlerConfig is one RuntimeClass handler: an OCI runtime with a
// runc-compatible command line.
type HandlerConfig struct {
	// Path is the runtime binary; a bare name is looked up in PATH.
	Path string `toml:"path"`
	// Root is the runtime's --root; "" means <state>/runtimes/<name>.
	Root string `toml:"root"`
	// Type is "runc" or "crun": how its features and version are read.
	Type string `toml:"type"`
}

// BuiltinHandler is the handler runtime.runc_path defines when the file
// does not define one of that name.
const BuiltinHandler = "runc"

// handlerName keeps names usable as directory names and RuntimeClass
// handlers (a DNS label, as Kubernetes requires of RuntimeClass.handler).
var handlerName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// RegistryConfig is about pulling images.
type RegistryConfig struct {
	// ConfigPath is a directory of containerd-style <host>/hosts.toml files.
	ConfigPath string `toml:"config_path"`
	// ProgressTimeout fails a pull that moved no bytes for this long.
	ProgressTimeout Duration `toml:"progress_timeout"`
	// PullTimeout fails a pull that takes longer than this in all, even
	// while bytes trickle in; 0 means no limit.
	PullTimeout Duration `toml:"pull_timeout"`
	// MaxConcurrentDownloads bounds the blobs one pull downloads at once.
	MaxConcurrentDownloads int `toml:"max_concurrent_downloads"`
}

// CNIConfig locates network configurations and plugins.
type CNIConfig struct {
	ConfDir string   `toml:"conf_dir"`
	BinDirs []string `toml:"bin_dirs"`
}

// CDIConfig locates Container Device Interface specs (GPUs, DRA drivers).
type CDIConfig struct {
	// SpecDirs are read in order, later ones winning; empty turns CDI off.
	SpecDirs []string `toml:"spec_dirs"`
}

// CgroupConfig selects how cgroups are managed.
type CgroupConfig struct {
	// Driver is "cgroupfs", "systemd" or "auto" (systemd when systemd is
	// PID 1 on a pure cgroup v2 host, else cgroupfs; see
	// cgroups.ChooseDriver).
	Driver string `toml:"driver"`
}

// StreamingConfig is the exec/attach/port-forward server.
type StreamingConfig struct {
	Address string `toml:"address"`
	Port    int    `toml:"port"`
	// DrainExecIOTimeout bounds how long ExecSync and Exec wait for output
	// once the exec'd process has exited (a child it left in the background
	// may hold its stdout/stderr open for good). 0 waits as long as the
	// exec itself may last.
	DrainExecIOTimeout Duration `toml:"drain_exec_io_timeout"`
}

// NRIConfig is the Node Resource Interface: plugins that see and adjust
// pods and containers (see package nri).
type NRIConfig struct {
	// Enable turns NRI on (the default, as in containerd 2.x).
	Enable bool `toml:"enable"`
	// SocketPath is where external plugins connect.
	SocketPath string `toml:"socket_path"`
	// PluginPath holds plugins krilld starts itself ("NN-name" executables).
	PluginPath string `toml:"plugin_path"`
	// PluginConfigPath holds their configuration files.
	PluginConfigPath string `toml:"plugin_config_path"`
	// RegistrationTimeout bounds a plugin's registration.
	RegistrationTimeout Duration `toml:"registration_timeout"`
	// RequestTimeout bounds every call to a plugin; a plugin that misses it
	// is disconnected and the pod or container goes on without it.
	RequestTimeout Duration `toml:"request_timeout"`
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	// Address is host:port of the /metrics HTTP server; "" turns it off
	// (the default, as in containerd).
	Address string `toml:"address"`
}

// Duration is a time.Duration written as "30s" or "5m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// maxSocketPath is the longest unix socket path Linux accepts
// (sizeof(sun_path) - 1).
const maxSocketPath = 107

// Defaults returns the embedded configuration krilld uses with no file.
func Defaults() *Config {
	return &Config{
		Root:       "/var/lib/krill",
		State:      "/run/krill",
		Listen:     "unix:///run/krill/krill.sock",
		LogLevel:   "info",
		PauseImage: "registry.k8s.io/pause:3.10",
		Runtime:    RuntimeConfig{RuncPath: "runc", DefaultHandler: BuiltinHandler},
		Registry: RegistryConfig{
			ConfigPath:             "/etc/krill/certs.d",
			ProgressTimeout:        Duration{5 * time.Minute},
			PullTimeout:            Duration{time.Hour},
			MaxConcurrentDownloads: 3,
		},
		CNI: CNIConfig{
			ConfDir: "/etc/cni/net.d",
			BinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"},
		},
		Cgroup:    CgroupConfig{Driver: "auto"},
		CDI:       CDIConfig{SpecDirs: []string{"/etc/cdi", "/var/run/cdi"}},
		Streaming: StreamingConfig{Address: "127.0.0.1", Port: 0, DrainExecIOTimeout: Duration{3 * time.Second}},
		NRI: NRIConfig{
			Enable:              true,
			SocketPath:          "/var/run/nri/nri.sock",
			PluginPath:          "/opt/nri/plugins",
			PluginConfigPath:    "/etc/nri/conf.d",
			RegistrationTimeout: Duration{5 * time.Second},
			RequestTimeout:      Duration{2 * time.Second},
		},
	}
}

// Load reads path over the defaults. An empty path means defaults only.
// Unknown keys are errors that name the key: a typo must not silently
// fall back to a default on a production node.
func Load(path string) (*Config, error) {
	c := Defaults()
	if path == "" {
		return c, c.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := Parse(data, c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, c.Validate()
}

// Parse decodes TOML data into c, refusing unknown keys.
func Parse(data []byte, c *Config) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			var keys []string
			for _, e := range strict.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return fmt.Errorf("unknown key(s): %s", strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			return fmt.Errorf("key %s: %s", strings.Join(de.Key(), "."), de.Error())
		}
		return err
	}
	return nil
}

// Validate checks values that TOML types cannot.
func (c *Config) Validate() error {
	for key, p := range map[string]string{"root": c.Root, "state": c.State} {
		if p == "" || !filepath.IsAbs(p) {
			return fmt.Errorf("key %s: %q must be an absolute path", key, p)
		}
	}
	// Shims listen on <state>/shims/<64-hex id>/console.sock; a unix
	// socket path holds at most 107 bytes, so a long state directory
	// would make every container fail. Refuse it here, once.
	if n := len(c.State) + len("/shims/") + 64 + len("/console.sock"); n > maxSocketPath {
		return fmt.Errorf("key state: %q is too long: shim sockets below it would need %d bytes, unix sockets allow %d (use a path of at most %d bytes)",
			c.State, n, maxSocketPath, maxSocketPath-(n-len(c.State)))
	}
	if _, err := c.SocketPath(); err != nil {
		return fmt.Errorf("key listen: %w", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("key log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.PauseImage == "" {
		return errors.New("key pause_image: must not be empty")
	}
	if err := c.Runtime.validate(); err != nil {
		return err
	}
	for key, list := range map[string][]string{"runtime.pod_annotations": c.Runtime.PodAnnotations, "runtime.container_annotations": c.Runtime.ContainerAnnotations} {
		for _, p := range list {
			if p == "" || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
				return fmt.Errorf("key %s: %q must be an annotation key or a prefix ending in a single \"*\"", key, p)
			}
		}
	}
	if c.Registry.ProgressTimeout.Duration <= 0 {
		return fmt.Errorf("key registry.progress_timeout: %s must be positive", c.Registry.ProgressTimeout.Duration)
	}
	if c.Registry.PullTimeout.Duration < 0 {
		return fmt.Errorf("key registry.pull_timeout: %s must not be negative", c.Registry.PullTimeout.Duration)
	}
	if c.Registry.MaxConcurrentDownloads < 1 {
		return fmt.Errorf("key registry.max_concurrent_downloads: %d must be at least 1", c.Registry.MaxConcurrentDownloads)
	}
	if len(c.CNI.BinDirs) == 0 {
		return errors.New("key cni.bin_dirs: name at least one directory")
	}
	switch c.Cgroup.Driver {
	case "cgroupfs", "systemd", "auto":
	default:
		return fmt.Errorf("key cgroup.driver: %q is not one of cgroupfs, systemd, auto", c.Cgroup.Driver)
	}
	if net.ParseIP(c.Streaming.Address) == nil {
		return fmt.Errorf("key streaming.address: %q is not an IP address", c.Streaming.Address)
	}
	if c.Streaming.Port < 0 || c.Streaming.Port > 65535 {
		return fmt.Errorf("key streaming.port: %d is out of range", c.Streaming.Port)
	}
	if c.Streaming.DrainExecIOTimeout.Duration < 0 {
		return fmt.Errorf("key streaming.drain_exec_io_timeout: %s must not be negative", c.Streaming.DrainExecIOTimeout.Duration)
	}
	if c.Metrics.Address != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Address); err != nil {
			return fmt.Errorf("key metrics.address: %q is not host:port: %v", c.Metrics.Address, err)
		}
	}
	return c.NRI.validate()
}

func (n NRIConfig) validate() error {
	if !n.Enable {
		return nil
	}
	for key, p := range map[string]string{"socket_path": n.SocketPath, "plugin_path": n.PluginPath, "plugin_config_path": n.PluginConfigPath} {
		if p == "" || !filepath.IsAbs(p) {
			return fmt.Errorf("key nri.%s: %q must be an absolute path", key, p)
		}
	}
	if len(n.SocketPath) > maxSocketPath {
		return fmt.Errorf("key nri.socket_path: %q is longer than %d bytes", n.SocketPath, maxSocketPath)
	}
	for key, d := range map[string]time.Duration{"registration_timeout": n.RegistrationTimeout.Duration, "request_timeout": n.RequestTimeout.Duration} {
		if d <= 0 {
			return fmt.Errorf("key nri.%s: %s must be positive", key, d)
		}
	}
	return nil
}

func (r *RuntimeConfig) validate() error {
	if r.RuncPath == "" {
		return errors.New("key runtime.runc_path: must not be empty")
	}
	for name, h := range r.Handlers {
		key := "runtime.handlers." + name
		if !handlerName.MatchString(name) {
			return fmt.Errorf("key %s: handler names are DNS labels (lower-case letters, digits, '-')", key)
		}
		if h.Path == "" {
			return fmt.Errorf("key %s.path: must not be empty", key)
		}
		if h.Root != "" && !filepath.IsAbs(h.Root) {
			return fmt.Errorf("key %s.root: %q must be an absolute path", key, h.Root)
		}
		switch h.Type {
		case "", "runc", "crun":
		default:
			return fmt.Errorf("key %s.type: %q is not runc or crun", key, h.Type)
		}
	}
	if _, ok := r.AllHandlers()[r.DefaultHandler]; !ok {
		return fmt.Errorf("key runtime.default_handler: %q is not a configured handler (known: %s)",
			r.DefaultHandler, strings.Join(r.HandlerNames(), ", "))
	}
	return nil
}

// AllHandlers returns the configured handlers plus the built-in "runc"
// one (runtime.runc_path, root <state>/runc) unless the file redefines it.
// Type "" is resolved to "runc".
func (r *RuntimeConfig) AllHandlers() map[string]HandlerConfig {
	all := map[string]HandlerConfig{BuiltinHandler: {Path: r.RuncPath, Type: "runc"}}
	for name, h := range r.Handlers {
		if h.Type == "" {
			h.Type = "runc"
		}
		all[name] = h
	}
	return all
}

// HandlerRoot is the --root of a handler's runtime: its root key, else
// <state>/runc for the "runc" handler (where krilld always kept it) and
// <state>/runtimes/<name> for the others.
func (c *Config) HandlerRoot(name string) string {
	if h := c.Runtime.AllHandlers()[name]; h.Root != "" {
		return h.Root
	}
	if name == BuiltinHandler {
		return filepath.Join(c.State, "runc")
	}
	return filepath.Join(c.State, "runtimes", name)
}

// HandlerNames lists the handler names, sorted.
func (r *RuntimeConfig) HandlerNames() []string {
	var names []string
	for name := range r.AllHandlers() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// SocketPath returns the filesystem path of the unix listen address.
func (c *Config) SocketPath() (string, error) {
	p, ok := strings.CutPrefix(c.Listen, "unix://")
	if !ok || p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not unix:///absolute/path", c.Listen)
	}
	return p, nil
}
