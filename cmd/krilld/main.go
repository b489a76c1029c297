// Command krilld is Krill's CRI daemon: kubelet, crictl and critest talk
// to it over a unix socket. This file only wires packages together; the
// work lives in them (see docs/design.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	clog "github.com/containerd/log"

	"github.com/krill-runtime/krill/config"
	"github.com/krill-runtime/krill/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		os.Exit(runCheck(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

// options are the command-line flags; set ones override the config file.
type options struct {
	configFile, listen, root, state, logLevel string
	check, showVersion                        bool
}

func parseFlags(args []string) (*options, *config.Config, error) {
	fs := flag.NewFlagSet("krilld", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.configFile, "config", "", "TOML configuration file (default: embedded defaults)")
	fs.StringVar(&o.listen, "listen", "", "CRI endpoint (default unix:///run/krill/krill.sock)")
	fs.StringVar(&o.root, "root", "", "persistent state directory (default /var/lib/krill)")
	fs.StringVar(&o.state, "state", "", "runtime state directory (default /run/krill)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	fs.BoolVar(&o.check, "check", false, "check whether this host can run Krill, then exit")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(o.configFile)
	if err != nil {
		return nil, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["listen"] {
		cfg.Listen = o.listen
	}
	if set["root"] {
		cfg.Root = o.root
	}
	if set["state"] {
		cfg.State = o.state
		if !set["listen"] && o.configFile == "" {
			cfg.Listen = "unix://" + cfg.State + "/krill.sock"
		}
	}
	if set["log-level"] {
		cfg.LogLevel = o.logLevel
	}
	return o, cfg, cfg.Validate()
}

func run(args []string) int {
	o, cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "krilld:", err)
		return 2
	}
	if o.showVersion {
		fmt.Println("krilld", version.Version)
		return 0
	}
	if o.check {
		return check(cfg, os.Stdout)
	}
	log := newLogger(cfg.LogLevel)
	slog.SetDefault(log)
	// containerd's libraries log through logrus; only their errors matter
	// unless we debug (their warnings, e.g. about fsverity, are noise here).
	if cfg.LogLevel != "debug" {
		clog.SetLevel("error")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		fmt.Fprintln(os.Stderr, "krilld:", err)
		return 1
	}
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("cannot tell systemd krilld is ready", "err", err)
	}
	<-ctx.Done()
	log.Info("stopping: no new calls, waiting for calls in flight; containers keep running")
	_ = sdNotify("STOPPING=1")
	d.shutdown(10 * time.Second)
	return 0
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
