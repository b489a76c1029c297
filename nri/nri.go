package nri

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	nri "github.com/containerd/nri/pkg/adaptation"
	nrilog "github.com/containerd/nri/pkg/log"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
	"github.com/krill-runtime/krill/version"
)

// Config is the [nri] section of krilld's configuration.
type Config struct {
	Enable              bool
	SocketPath          string // external plugins connect here
	PluginPath          string // pre-installed plugins krilld starts itself
	PluginConfigPath    string // their configuration files
	RegistrationTimeout time.Duration
	RequestTimeout      time.Duration
}

// Deps are the lower layers NRI reads (for plugin synchronisation) and
// writes through (for updates and evictions).
type Deps struct {
	Pods              *store.Store[store.Pod]
	Containers        *store.Store[store.Container]
	Runtimes          *oci.Handlers // a container's runtime is its pod's handler's
	Cgroups           *cgroups.Manager
	DaemonOOMScoreAdj int // no plugin may set a container's oom_score_adj below it
	Log               *slog.Logger
}

// Service is Krill's side of NRI. A nil or disabled Service does nothing.
type Service struct {
	Deps
	cfg Config
	nri *nri.Adaptation
}

// New prepares NRI; plugins are started and the socket opened by Start.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	s := &Service{Deps: deps, cfg: cfg}
	if !cfg.Enable {
		return s, nil
	}
	// The adaptation keeps its timeouts and logger in package variables:
	// one NRI per process, as in containerd.
	nri.SetPluginRegistrationTimeout(cfg.RegistrationTimeout)
	nri.SetPluginRequestTimeout(cfg.RequestTimeout)
	nrilog.Set(slogBridge{deps.Log.With("component", "nri")})
	a, err := nri.New("krill", version.Version, s.synchronize, s.updateFromPlugin,
		nri.WithSocketPath(cfg.SocketPath),
		nri.WithPluginPath(cfg.PluginPath),
		nri.WithPluginConfigPath(cfg.PluginConfigPath),
		nri.WithDefaultValidator(securityRules()),
	)
	if err != nil {
		return nil, fmt.Errorf("set up NRI: %w", err)
	}
	s.nri = a
	return s, nil
}

// Enabled tells whether plugins are consulted.
func (s *Service) Enabled() bool { return s != nil && s.nri != nil }

// Start launches the pre-installed plugins and opens the plugin socket.
// Call it after recovery: every plugin is synchronised with the pods and
// containers in the store when it registers, including those that
// survived a krilld restart.
func (s *Service) Start() error {
	if !s.Enabled() {
		return nil
	}
	if err := s.nri.Start(); err != nil {
		return fmt.Errorf("start NRI: %w", err)
	}
	s.Log.Info("NRI started", "socket", s.cfg.SocketPath, "plugin_path", s.cfg.PluginPath)
	return nil
}

// Close disconnects every plugin and removes the socket's listener.
func (s *Service) Close() {
	if s.Enabled() {
		s.nri.Stop()
	}
}

// BlockSync keeps a plugin from finishing its registration until the
// returned func is called. Creation paths hold it from their NRI event
// until their record is stored: a plugin that registers meanwhile then
// either got the event or finds the record in its synchronisation, never
// neither.
func (s *Service) BlockSync() (unblock func()) {
	if !s.Enabled() {
		return func() {}
	}
	return s.nri.BlockPluginSync().Unblock
}

// slogBridge sends the adaptation's log lines (plugin connects, timeouts,
// failures, each naming the plugin) to krilld's log.
type slogBridge struct{ l *slog.Logger }

func (b slogBridge) Debugf(ctx context.Context, f string, a ...any) {
	b.l.DebugContext(ctx, fmt.Sprintf(f, a...))
}
func (b slogBridge) Infof(ctx context.Context, f string, a ...any) {
	b.l.InfoContext(ctx, fmt.Sprintf(f, a...))
}
func (b slogBridge) Warnf(ctx context.Context, f string, a ...any) {
	b.l.WarnContext(ctx, fmt.Sprintf(f, a...))
}
func (b slogBridge) Errorf(ctx context.Context, f string, a ...any) {
	b.l.ErrorContext(ctx, fmt.Sprintf(f, a...))
}
