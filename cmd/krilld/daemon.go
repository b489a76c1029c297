package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/krill-runtime/krill/apparmor"
	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/config"
	"github.com/krill-runtime/krill/container"
	"github.com/krill-runtime/krill/container/spec"
	"github.com/krill-runtime/krill/cri"
	"github.com/krill-runtime/krill/events"
	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/metrics"
	"github.com/krill-runtime/krill/network"
	"github.com/krill-runtime/krill/nri"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/sandbox"
	"github.com/krill-runtime/krill/store"
	"github.com/krill-runtime/krill/streaming"
)

// daemon is a running krilld.
type daemon struct {
	cri     *cri.Server
	grpc    *grpc.Server
	images  *image.Service
	streams *streaming.Server
	nri     *nri.Service
	metrics *metrics.Server // nil unless [metrics] address is set
	lock    *os.File
	log     *slog.Logger
}

// start takes the lock, builds every service, recovers state and serves.
// The socket answers Unavailable until recovery is done (the init gate).
func start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*daemon, error) {
	for _, dir := range []string{cfg.Root, cfg.State} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	lock, err := takeLock(filepath.Join(cfg.State, "krilld.lock"))
	if err != nil {
		return nil, err
	}
	d := &daemon{lock: lock, log: log}

	shim, err := findBinary(cfg.Runtime.ShimPath, "krill-shim")
	if err != nil {
		return nil, err
	}
	pauseBin, _ := findBinary(cfg.Runtime.PauseBinary, "krill-pause")
	oomAdj := daemonOOMScoreAdj()

	d.images, err = image.New(ctx, image.Config{
		Root:                   filepath.Join(cfg.Root, "images"),
		RegistryConfigPath:     cfg.Registry.ConfigPath,
		ProgressTimeout:        cfg.Registry.ProgressTimeout.Duration,
		PullTimeout:            cfg.Registry.PullTimeout.Duration,
		MaxConcurrentDownloads: cfg.Registry.MaxConcurrentDownloads,
		PinnedImages:           cfg.PinnedImages,
		PauseImage:             cfg.PauseImage,
		PauseBinary:            pauseBin,
	})
	if err != nil {
		return nil, fmt.Errorf("image service: %w", err)
	}
	netw, err := network.New(network.Config{
		ConfDir:  cfg.CNI.ConfDir,
		BinDirs:  cfg.CNI.BinDirs,
		NetnsDir: filepath.Join(cfg.State, "netns"),
		CacheDir: filepath.Join(cfg.State, "cni-cache"),
	})
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	cg, err := newCgroups(cfg.Cgroup.Driver)
	if err != nil {
		return nil, err
	}
	rts, err := newHandlers(ctx, cfg, shim, cg, log)
	if err != nil {
		return nil, err
	}
	podStore, err := store.New[store.Pod](filepath.Join(cfg.Root, "pods"), "pod.json", "pod sandbox")
	if err != nil {
		return nil, err
	}
	ctrStore, err := store.New[store.Container](filepath.Join(cfg.Root, "containers"), "container.json", "container")
	if err != nil {
		return nil, err
	}
	// A record from a newer krilld stops the start (its objects stay as
	// they are); unreadable ones are quarantined by Load and their objects
	// left alone by recovery.
	if _, err := podStore.Load(); err != nil {
		return nil, fmt.Errorf("load pod records: %w", err)
	}
	if _, err := ctrStore.Load(); err != nil {
		return nil, fmt.Errorf("load container records: %w", err)
	}
	evs := events.New()
	d.nri, err = nri.New(nriConfig(cfg.NRI), nri.Deps{
		Pods: podStore, Containers: ctrStore, Runtimes: rts, Cgroups: cg, DaemonOOMScoreAdj: oomAdj, Log: log,
	})
	if err != nil {
		return nil, err
	}
	pods, err := sandbox.New(sandbox.Config{
		StateDir: filepath.Join(cfg.State, "pods"), NetnsDir: filepath.Join(cfg.State, "netns"),
		Pods: podStore, Images: d.images, Network: netw, Runtimes: rts, Cgroups: cg, Events: evs,
		DaemonOOMScoreAdj: oomAdj, NRI: d.nri, Log: log, AllowedAnnotations: allowedAnnotations(cfg),
	})
	if err != nil {
		return nil, err
	}
	ctrs, err := container.New(container.Config{
		StateDir:   filepath.Join(cfg.State, "containers"),
		Containers: ctrStore, Sandboxes: pods, Images: d.images, Runtimes: rts, Cgroups: cg, Events: evs,
		DaemonOOMScoreAdj: oomAdj, NRI: d.nri, Log: log, AllowedAnnotations: allowedAnnotations(cfg),
		AppArmor: &apparmor.Host{}, CDISpecDirs: cfg.CDI.SpecDirs,
	})
	if err != nil {
		return nil, err
	}
	d.streams, err = streaming.New(streaming.Config{Address: cfg.Streaming.Address, Port: cfg.Streaming.Port}, ctrs)
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	if err := d.streams.Start(); err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}

	srv := cri.New(cri.Deps{Config: cfg, Cgroups: cg, Images: d.images, Network: netw, Pods: pods, Containers: ctrs, Events: evs, Runtimes: rts, Streams: d.streams, Log: log})
	d.cri = srv
	d.grpc = grpc.NewServer(srv.ServerOptions()...)
	srv.Register(d.grpc)
	l, err := listen(cfg)
	if err != nil {
		return nil, err
	}
	go d.grpc.Serve(l)
	if cfg.Metrics.Address != "" {
		// Every handler's shims share one shim directory: any runtime counts them.
		rt, _ := rts.Get("")
		reg := metrics.NewRegistry(metricSources(podStore, ctrStore, rt, d.images))
		if d.metrics, err = metrics.Serve(cfg.Metrics.Address, reg, log); err != nil {
			return nil, err
		}
		log.Info("metrics served", "address", "http://"+d.metrics.Addr().String()+"/metrics")
	}

	// Recovery runs while the socket already exists: callers get
	// Unavailable instead of "connection refused" and retry.
	t := time.Now()
	ctrs.Recover(ctx)
	pods.Recover(ctx, ctrs)
	// NRI after recovery: plugins are synchronised with what it found.
	if err := d.nri.Start(); err != nil {
		return nil, err
	}
	metrics.SetRecovery(time.Since(t))
	srv.SetReady()
	log.Info("krilld ready", "listen", cfg.Listen, "root", cfg.Root, "state", cfg.State,
		"cgroups", cg.Mode(), "cgroup_driver", cg.Driver(), "apparmor", ctrs.AppArmorEnabled(),
		"pods", len(podStore.List()), "containers", len(ctrStore.List()), "recovery", time.Since(t).Round(time.Millisecond))
	return d, nil
}

// nriConfig is the [nri] section as package nri takes it.
func nriConfig(c config.NRIConfig) nri.Config {
	return nri.Config{
		Enable:              c.Enable,
		SocketPath:          c.SocketPath,
		PluginPath:          c.PluginPath,
		PluginConfigPath:    c.PluginConfigPath,
		RegistrationTimeout: c.RegistrationTimeout.Duration,
		RequestTimeout:      c.RequestTimeout.Duration,
	}
}

// newHandlers makes one OCI runtime per configured RuntimeClass handler.
// A handler whose binary is missing stops krilld, like any bad config
// value: a pod asking for it later would fail anyway, and later is worse.
func newHandlers(ctx context.Context, cfg *config.Config, shim string, cg *cgroups.Manager, log *slog.Logger) (*oci.Handlers, error) {
	byName := map[string]*oci.Runtime{}
	for name, h := range cfg.Runtime.AllHandlers() {
		bin, err := findBinary(h.Path, h.Type)
		if err != nil {
			return nil, fmt.Errorf("runtime handler %q: %w", name, err)
		}
		rt, err := oci.New(oci.Config{
			RuncPath: bin,
			RuncRoot: cfg.HandlerRoot(name),
			ShimPath: shim,
			ShimDir:  filepath.Join(cfg.State, "shims"),
			// ExecDrain bounds how long exec output is awaited after the
			// process exited.
			ExecDrain:     cfg.Streaming.DrainExecIOTimeout.Duration,
			SystemdCgroup: cg.Driver() == cgroups.DriverSystemd,
		})
		if err != nil {
			return nil, fmt.Errorf("runtime handler %q: %w", name, err)
		}
		f, err := rt.Features(ctx)
		if err != nil {
			return nil, fmt.Errorf("runtime handler %q: %w", name, err)
		}
		log.Info("runtime handler", "handler", name, "binary", bin, "version", f.Version,
			"user_namespaces", f.UserNamespaces, "recursive_read_only_mounts", f.RecursiveReadOnlyMounts)
		byName[name] = rt
	}
	return oci.NewHandlers(cfg.Runtime.DefaultHandler, byName)
}

// shutdown stops serving, giving calls in flight up to grace to finish.
// Containers are not touched: their shims keep them and their logs going.
func (d *daemon) shutdown(grace time.Duration) {
	d.cri.Close()
	done := make(chan struct{})
	go func() { d.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		d.grpc.Stop()
	}
	d.streams.Stop()
	d.nri.Close()
	if d.metrics != nil {
		d.metrics.Close()
	}
	d.images.Close()
	d.lock.Close()
}

// takeLock makes sure only one krilld uses a state directory.
func takeLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another krilld is already running on %s (lock %s held)", filepath.Dir(path), path)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// listen creates the CRI socket, replacing a stale one (we hold the lock,
// so no live daemon owns it), with mode 0660.
func listen(cfg *config.Config) (net.Listener, error) {
	path, err := cfg.SocketPath()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// findBinary resolves a configured binary: an explicit path, else the name
// next to the krilld executable, else PATH.
func findBinary(configured, name string) (string, error) {
	if configured != "" && strings.Contains(configured, "/") {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return configured, nil
	}
	if configured != "" {
		name = configured
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH") + ":/usr/sbin:/usr/local/sbin:/sbin") {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found next to krilld or in PATH", name)
}

// daemonOOMScoreAdj is the lowest oom_score_adj containers may get:
// without CAP_SYS_RESOURCE nothing may go below krilld's own value (runc
// fails otherwise), so that is the floor; with it there is no floor.
func daemonOOMScoreAdj() int {
	if hasCap(capSysResource) {
		return -1000
	}
	return daemonOOMScoreAdjValue()
}

func allowedAnnotations(cfg *config.Config) spec.AllowedAnnotations {
	return spec.AllowedAnnotations{Pod: cfg.Runtime.PodAnnotations, Container: cfg.Runtime.ContainerAnnotations}
}

// newCgroups detects the host's cgroup layout and settles the configured
// driver ("auto" becomes systemd or cgroupfs here, once).
func newCgroups(driver string) (*cgroups.Manager, error) {
	cg, err := cgroups.New("/sys/fs/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	d, err := cgroups.ChooseDriver(driver, cg.Mode(), cgroups.SystemdBooted())
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	if err := cg.SetDriver(d); err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return cg, nil
}
