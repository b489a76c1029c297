package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features is what an OCI runtime binary says it can do, from its own
// `features` command (runc >= 1.1, crun >= 1.5), never assumed from its name.
type Features struct {
	// UserNamespaces: the runtime creates user namespaces and idmaps bind
	// mounts into them (mountExtensions.idmap), which KEP-127 pods need.
	UserNamespaces bool
	// RecursiveReadOnlyMounts: the runtime knows the "rro" mount option.
	RecursiveReadOnlyMounts bool
	// Version is the first line of `<binary> --version`.
	Version string
}

// probeTimeout bounds `<binary> --version` and `features` (a few ms each).
const probeTimeout = 10 * time.Second

// probe caches one Runtime's features: they belong to the binary, which
// does not change while krilld runs.
type probe struct {
	once sync.Once
	f    Features
	err  error
}

// Features runs `<binary> features` and `--version` once and returns the
// result. A binary without a `features` command supports nothing optional.
func (r *Runtime) Features(ctx context.Context) (Features, error) {
	r.probe.once.Do(func() {
		// The answer is kept: a caller that gave up must not make it an
		// error for everyone after.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
		defer cancel()
		r.probe.f, r.probe.err = ProbeFeatures(pctx, r.cfg.RuncPath)
	})
	return r.probe.f, r.probe.err
}

// ProbeFeatures asks an OCI runtime binary for its version and features
// (`krilld check` uses it without making a Runtime).
func ProbeFeatures(ctx context.Context, binary string) (Features, error) {
	var f Features
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return f, fmt.Errorf("%s --version: %w", binary, err)
	}
	f.Version = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	out, err = exec.CommandContext(ctx, binary, "features").Output()
	if err != nil {
		return f, nil // too old to say: nothing optional is claimed
	}
	return parseFeatures(f, out)
}

func parseFeatures(f Features, data []byte) (Features, error) {
	var ff features.Features
	if err := json.Unmarshal(data, &ff); err != nil {
		return f, fmt.Errorf("parse runtime features: %w", err)
	}
	f.RecursiveReadOnlyMounts = slices.Contains(ff.MountOptions, "rro")
	if l := ff.Linux; l != nil {
		idmap := l.MountExtensions != nil && l.MountExtensions.IDMap != nil &&
			l.MountExtensions.IDMap.Enabled != nil && *l.MountExtensions.IDMap.Enabled
		f.UserNamespaces = idmap && slices.Contains(l.Namespaces, "user")
	}
	return f, nil
}
