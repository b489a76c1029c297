package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/config"
)

// startTestDaemon runs a krilld in temporary directories with the
// binaries built by `make build` (bin/krill-shim, bin/krill-pause).
func startTestDaemon(t *testing.T) (*grpc.ClientConn, *config.Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("/tmp", "kd") // short: shim sockets live below it
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.Listen = "unix://" + filepath.Join(dir, "krill.sock")
	cfg.Registry.ConfigPath = filepath.Join(dir, "certs.d")
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	privateNRI(cfg, dir)
	repo, _ := filepath.Abs("../..")
	cfg.Runtime.ShimPath = filepath.Join(repo, "bin", "krill-shim")
	cfg.Runtime.PauseBinary = filepath.Join(repo, "bin", "krill-pause")
	for _, b := range []string{cfg.Runtime.ShimPath, cfg.Runtime.PauseBinary} {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%v: run `make build` first", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := start(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(cfg.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		d.shutdown(5 * time.Second)
		cancel()
		os.RemoveAll(dir)
	})
	return conn, cfg
}

// TestMalformedRequests sends every registered RPC of both CRI services
// an empty request (every field nil or zero) and requests naming objects
// that do not exist. Each must come back with a clear code, never a panic
// (Internal) or an unclassified error, and the daemon must keep serving.
func TestMalformedRequests(t *testing.T) {
	conn, _ := startTestDaemon(t)
	clients := []any{runtime.NewRuntimeServiceClient(conn), runtime.NewImageServiceClient(conn)}
	bad := map[codes.Code]bool{codes.Internal: true, codes.Unknown: true, codes.Unavailable: true}
	// Checkpoint/restore (CRIU) is out of Krill's scope, as in containerd's CRI.
	notBuilt := map[string]bool{"CheckpointContainer": true, "CheckpointPod": true, "RestorePod": true}
	for _, client := range clients {
		v := reflect.ValueOf(client)
		for i := 0; i < v.NumMethod(); i++ {
			m := v.Type().Method(i)
			mt := m.Type // func(client, ctx, *Req, ...CallOption) (...)
			reqType := mt.In(2).Elem()
			for _, variant := range []string{"empty", "unknown-ids"} {
				req := reflect.New(reqType)
				if variant == "unknown-ids" {
					setStrings(req.Elem(), "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				out := v.Method(i).Call([]reflect.Value{reflect.ValueOf(ctx), req})
				errV := out[len(out)-1]
				var err error
				if !errV.IsNil() {
					err = errV.Interface().(error)
				}
				if m.Name == "GetContainerEvents" && err == nil {
					// A stream opens fine; cancel it.
					cancel()
					continue
				}
				cancel()
				code := status.Code(err)
				if bad[code] {
					t.Errorf("%s(%s): code %s: %v", m.Name, variant, code, err)
				}
				if code == codes.Unimplemented && !notBuilt[m.Name] {
					t.Errorf("%s is not implemented", m.Name)
				}
			}
		}
	}
	// Still alive and answering.
	if _, err := runtime.NewRuntimeServiceClient(conn).Version(context.Background(), &runtime.VersionRequest{}); err != nil {
		t.Fatalf("daemon died: %v", err)
	}
}

// setStrings fills every string field of a request that names an object
// (IDs, image references) with s, recursing into nested messages.
func setStrings(v reflect.Value, s string) {
	for i := 0; i < v.NumField(); i++ {
		f, ft := v.Field(i), v.Type().Field(i)
		if !ft.IsExported() {
			continue
		}
		switch {
		case f.Kind() == reflect.String && (strings.HasSuffix(ft.Name, "Id") || ft.Name == "Image"):
			f.SetString(s)
		case f.Kind() == reflect.Ptr && f.Type().Elem().Kind() == reflect.Struct && strings.Contains(ft.Name, "Image"):
			f.Set(reflect.New(f.Type().Elem()))
			setStrings(f.Elem(), s)
		}
	}
}

// privateNRI keeps a test daemon off the host's NRI socket
// (/var/run/nri/nri.sock), which krilld would take over.
func privateNRI(cfg *config.Config, dir string) {
	cfg.NRI.SocketPath = filepath.Join(dir, "nri.sock")
	cfg.NRI.PluginPath = filepath.Join(dir, "nri-plugins")
	cfg.NRI.PluginConfigPath = filepath.Join(dir, "nri-conf.d")
}

func TestSecondDaemonRefused(t *testing.T) {
	_, cfg := startTestDaemon(t)
	_, err := takeLock(filepath.Join(cfg.State, "krilld.lock"))
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second lock: %v", err)
	}
}

func TestCheckReportsHost(t *testing.T) {
	var b strings.Builder
	cfg := config.Defaults()
	check(cfg, &b)
	for _, want := range []string{"runc", "cni plugins", "cgroups", "overlayfs", "capabilities", "nri            enabled"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestCheckHandlers: each handler is reported with its version; a runc
// before the 2025 advisory fixes is warned about, a fixed one is not, and
// crun is said not to work on a hybrid layout whose cgroup2 mount has
// controllers (crun refuses every container there).
func TestCheckHandlers(t *testing.T) {
	dir := t.TempDir()
	fake := func(name, version string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("#!/bin/sh\n[ \"$1\" = --version ] && echo '"+version+"' && exit 0\nexit 1\n"), 0o755)
		return p
	}
	cgRoot := filepath.Join(dir, "cgroup")
	os.MkdirAll(filepath.Join(cgRoot, "memory"), 0o755)
	os.MkdirAll(filepath.Join(cgRoot, "unified"), 0o755)
	os.WriteFile(filepath.Join(cgRoot, "unified", "cgroup.controllers"), []byte("hugetlb\n"), 0o644)
	cg, err := cgroups.New(cgRoot)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.Runtime.Handlers = map[string]config.HandlerConfig{
		"old":   {Path: fake("runc-old", "runc version 1.3.2")},
		"fixed": {Path: fake("runc-fixed", "runc version 1.3.3")},
		"crun":  {Path: fake("crun", "crun version 1.8.1"), Type: "crun"},
	}
	lines := map[string]string{}
	for _, name := range []string{"old", "fixed", "crun"} {
		checkHandler(cfg, name, cg, func(ok, required bool, what, detail string) {
			lines[name] += fmt.Sprintf("%v %s %s\n", ok, what, detail)
		})
	}
	if !strings.Contains(lines["old"], "false handler old runc 1.3.2 predates the fixes for CVE-2025-31133") ||
		!strings.Contains(lines["old"], "1.3.3") {
		t.Errorf("runc 1.3.2 not warned about:\n%s", lines["old"])
	}
	if strings.Contains("\n"+lines["fixed"], "\nfalse ") || !strings.Contains(lines["fixed"], "runc version 1.3.3") {
		t.Errorf("runc 1.3.3:\n%s", lines["fixed"])
	}
	if !strings.Contains(lines["crun"], "crun cannot run containers on this hybrid cgroup layout") ||
		!strings.Contains(lines["crun"], "hugetlb") {
		t.Errorf("crun on hybrid:\n%s", lines["crun"])
	}
}

// TestShutdownEndsEventStreams: a kubelet's open GetContainerEvents stream
// must not hold up a graceful stop.
func TestShutdownEndsEventStreams(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir, _ := os.MkdirTemp("/tmp", "kd")
	defer os.RemoveAll(dir)
	cfg := config.Defaults()
	cfg.Root, cfg.State = filepath.Join(dir, "root"), filepath.Join(dir, "state")
	cfg.Listen = "unix://" + filepath.Join(dir, "krill.sock")
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	privateNRI(cfg, dir)
	repo, _ := filepath.Abs("../..")
	cfg.Runtime.ShimPath = filepath.Join(repo, "bin", "krill-shim")
	d, err := start(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(cfg.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := runtime.NewRuntimeServiceClient(conn).GetContainerEvents(context.Background(), &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	go stream.Recv()
	time.Sleep(100 * time.Millisecond) // let the stream reach the server
	t0 := time.Now()
	d.shutdown(10 * time.Second)
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("shutdown waited %s for an event stream", took)
	}
}
