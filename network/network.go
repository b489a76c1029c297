package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Config says where network configurations, plugins and Krill's own network
// state live.
type Config struct {
	ConfDir  string   // /etc/cni/net.d; "" = always use the built-in default network
	BinDirs  []string // /opt/cni/bin, /usr/lib/cni (searched in order)
	NetnsDir string   // state/netns: one bind-mounted network namespace per pod
	CacheDir string   // state/cni-cache: libcni's cache of ADD results, read by DEL
}

// PodNetwork is what the network needs to know about one pod. The same value
// (at least ID, NetNS and PortMappings) should be passed to Setup and
// Teardown; Teardown prefers what libcni cached at ADD time.
type PodNetwork struct {
	ID, Name, Namespace, UID string
	NetNS                    string // path of the pod's network namespace (from CreateNetNS)
	PortMappings             []*runtime.PortMapping
	CgroupParent             string
}

// Result is the outcome of Setup: the pod's addresses.
type Result struct {
	IP            string   // the first IPv4 address (or the first address when there is no IPv4)
	AdditionalIPs []string // every further address, in plugin order
}

// Status reasons, as the CRI's RuntimeCondition NetworkReady expects them.
const (
	ReasonNotReady = "NetworkPluginNotReady"
)

// podIfName is the interface name every pod gets, as Kubernetes expects.
const podIfName = "eth0"

// Manager owns pod network namespaces and runs CNI plugins on them. Its
// methods are safe for concurrent use; calls for one pod must not overlap
// (the sandbox package serializes them).
type Manager struct {
	cfg Config
	cni *libcni.CNIConfig

	mu          sync.Mutex
	podCIDRs    []string // set by SetPodCIDR; only the built-in default network uses it
	netnsDirSet bool     // NetnsDir was made a shared mount point
}

// New checks cfg and returns a Manager. It does not touch the host: the
// netns directory is prepared on the first CreateNetNS, configurations are
// read on each Setup/Status so that a conf file dropped in later is picked up.
func New(cfg Config) (*Manager, error) {
	if cfg.NetnsDir == "" || !filepath.IsAbs(cfg.NetnsDir) {
		return nil, fmt.Errorf("network: netns dir %q must be an absolute path: %w", cfg.NetnsDir, errdefs.ErrInvalidArgument)
	}
	if cfg.CacheDir == "" || !filepath.IsAbs(cfg.CacheDir) {
		return nil, fmt.Errorf("network: cni cache dir %q must be an absolute path: %w", cfg.CacheDir, errdefs.ErrInvalidArgument)
	}
	if len(cfg.BinDirs) == 0 {
		return nil, fmt.Errorf("network: no cni plugin directory: %w", errdefs.ErrInvalidArgument)
	}
	cfg.NetnsDir = filepath.Clean(cfg.NetnsDir)
	cfg.BinDirs = append([]string(nil), cfg.BinDirs...)
	return &Manager{
		cfg: cfg,
		// An explicit exec: with nil, libcni creates its default lazily on
		// first use, a data race between concurrent pod setups. Plugin
		// stderr goes to ours (the daemon log).
		cni: libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, &pluginExec{&invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		}}),
	}, nil
}

// SetPodCIDR sets the subnet(s) the built-in default network hands out
// (kubelet's UpdateRuntimeConfig; dual stack comes comma separated). Invalid
// or empty values are ignored: the previous subnet stays. A network from
// ConfDir is never changed.
func (m *Manager) SetPodCIDR(cidr string) {
	var cidrs []string
	for _, c := range strings.Split(cidr, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			slog.Warn("network: ignoring invalid pod CIDR", "cidr", c, "err", err)
			return
		}
		cidrs = append(cidrs, n.String())
	}
	if len(cidrs) == 0 {
		return
	}
	m.mu.Lock()
	m.podCIDRs = cidrs
	m.mu.Unlock()
}

// Status reports whether pods can get a network now: a configuration must be
// usable and every plugin it names must exist in BinDirs.
func (m *Manager) Status() (ready bool, reason, message string) {
	list, _, err := m.loadNetwork()
	if err == nil {
		err = m.checkPlugins(list)
	}
	if err == nil {
		// STATUS exists from CNI 1.1.0 on; libcni skips it for older configs.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if serr := m.cni.GetStatusNetworkList(ctx, list); serr != nil {
			err = fmt.Errorf("network %q: plugin status: %w", list.Name, serr)
		}
	}
	if err != nil {
		return false, ReasonNotReady, "cni: " + err.Error()
	}
	return true, "", ""
}

// checkPlugins fails when a plugin of the list has no binary in BinDirs:
// better to say so in Status than to fail every pod.
func (m *Manager) checkPlugins(list *libcni.NetworkConfigList) error {
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	for _, t := range types {
		if t == builtinBridgeType {
			continue // krilld itself
		}
		if _, err := invoke.FindInPath(t, m.cfg.BinDirs); err != nil {
			return fmt.Errorf("network %q: plugin %q not found in %v: %w", list.Name, t, m.cfg.BinDirs, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

// confExtensions are the file kinds read from ConfDir, as other runtimes do.
var confExtensions = []string{".conflist", ".conf", ".json"}

// loadNetwork returns the network pods join: the first usable file of
// ConfDir in lexical order, or the built-in default when ConfDir holds no
// configuration file at all. source names where it came from (for logs).
// Files that do not parse are skipped with a warning; when every file is
// broken the network is not ready, rather than silently falling back to the
// default (the admin meant to configure something).
func (m *Manager) loadNetwork() (list *libcni.NetworkConfigList, source string, err error) {
	var files []string
	if m.cfg.ConfDir != "" {
		files, err = libcni.ConfFiles(m.cfg.ConfDir, confExtensions)
		if err != nil {
			return nil, "", fmt.Errorf("read cni config dir %s: %w: %w", m.cfg.ConfDir, err, errdefs.ErrFailedPrecondition)
		}
	}
	if len(files) == 0 {
		list, err := m.defaultNetwork(true)
		return list, builtinSource, err
	}
	sort.Strings(files)
	var errs []error
	for _, f := range files {
		list, err := loadConfFile(f)
		if err != nil {
			slog.Warn("network: skipping cni config", "file", f, "err", err)
			errs = append(errs, err)
			continue
		}
		return list, f, nil
	}
	return nil, "", fmt.Errorf("no usable cni config in %s: %w: %w", m.cfg.ConfDir, errors.Join(errs...), errdefs.ErrFailedPrecondition)
}

// loadConfFile reads a .conflist (libcni also reads its plugins from
// <dir>/<name>/*.conf when the list has none inline), or a single-plugin
// .conf/.json turned into a one-plugin list. A .conf holding a "plugins"
// array is read as a list.
func loadConfFile(path string) (*libcni.NetworkConfigList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var probe struct {
		Plugins json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if filepath.Ext(path) == ".conflist" || probe.Plugins != nil {
		return libcni.NetworkConfFromFile(path)
	}
	if data, err = singleToList(data); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return list, nil
}

// singleToList wraps one plugin configuration into a list with the same name
// and version (what libcni's deprecated ConfListFromConf does).
func singleToList(data []byte) ([]byte, error) {
	var plugin map[string]any
	if err := json.Unmarshal(data, &plugin); err != nil {
		return nil, err
	}
	name, _ := plugin["name"].(string)
	version, _ := plugin["cniVersion"].(string)
	if name == "" {
		return nil, errors.New("no network name")
	}
	return json.Marshal(map[string]any{
		"name":       name,
		"cniVersion": version,
		"plugins":    []any{plugin},
	})
}
