package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/krill-runtime/krill/apparmor"
	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/config"
	"github.com/krill-runtime/krill/oci"
)

const capSysResource = 24

// runCheck is `krilld check [flags]`: the same flags as the daemon.
func runCheck(args []string) int {
	_, cfg, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krilld:", err)
		return 2
	}
	return check(cfg, os.Stdout)
}

// check tells someone setting up a lab node whether this host can run
// Krill, and what to fix when it cannot. Exit 1 when something required
// is missing.
func check(cfg *config.Config, w io.Writer) int {
	failed := false
	report := func(ok bool, required bool, what, detail string) {
		mark := "ok  "
		if !ok {
			mark = "WARN"
			if required {
				mark, failed = "FAIL", true
			}
		}
		fmt.Fprintf(w, "%s %-14s %s\n", mark, what, detail)
	}

	cg, cgErr := cgroups.New("/sys/fs/cgroup")
	for _, name := range cfg.Runtime.HandlerNames() {
		checkHandler(cfg, name, cg, report)
	}
	if p, err := findBinary(cfg.Runtime.ShimPath, "krill-shim"); err != nil {
		report(false, true, "krill-shim", err.Error()+" (make build)")
	} else {
		report(true, true, "krill-shim", p)
	}
	if p, err := findBinary(cfg.Runtime.PauseBinary, "krill-pause"); err != nil {
		report(false, false, "krill-pause", "not found: pods need the pause image from a registry")
	} else {
		report(true, false, "krill-pause", p+" (built-in pause image fallback)")
	}

	var found []string
	for _, dir := range cfg.CNI.BinDirs {
		for _, plugin := range []string{"bridge", "host-local", "portmap"} {
			if _, err := os.Stat(filepath.Join(dir, plugin)); err == nil {
				found = append(found, filepath.Join(dir, plugin))
			}
		}
	}
	hint := ""
	if len(found) < 3 {
		hint = " (apt-get install containernetworking-plugins)"
	}
	report(len(found) >= 3, true, "cni plugins", fmt.Sprintf("%d of bridge/host-local/portmap found in %s%s",
		len(found), strings.Join(cfg.CNI.BinDirs, ", "), hint))
	confs, _ := filepath.Glob(filepath.Join(cfg.CNI.ConfDir, "*.conf*"))
	if len(confs) == 0 {
		report(true, false, "cni config", "none in "+cfg.CNI.ConfDir+": the built-in default bridge network is used")
	} else {
		report(true, false, "cni config", strings.Join(confs, ", "))
	}

	if cgErr != nil {
		report(false, true, "cgroups", cgErr.Error())
	} else if d, err := cgroups.ChooseDriver(cfg.Cgroup.Driver, cg.Mode(), cgroups.SystemdBooted()); err != nil {
		report(false, true, "cgroups", "mode "+cg.Mode()+": "+err.Error())
	} else {
		report(true, true, "cgroups", fmt.Sprintf("mode %s, driver %s (configured %q)", cg.Mode(), d, cfg.Cgroup.Driver))
	}
	if (&apparmor.Host{}).Enabled() {
		report(true, false, "apparmor", "enabled: RuntimeDefault applies "+apparmor.DefaultProfile+", Localhost profiles must be loaded")
	} else {
		report(true, false, "apparmor", "not available: containers asking for an AppArmor profile other than unconfined are refused")
	}
	if hasFilesystem("overlay") {
		report(true, true, "overlayfs", "available for container root filesystems")
	} else {
		report(false, true, "overlayfs", "missing: container root filesystems need it (modprobe overlay)")
	}
	if hasCap(capSysResource) {
		report(true, false, "capabilities", "CAP_SYS_RESOURCE present")
	} else {
		report(false, false, "capabilities", fmt.Sprintf("no CAP_SYS_RESOURCE: oom_score_adj below krilld's own (%d) is raised to it; RLIMIT_NOFILE cannot be raised", daemonOOMScoreAdjValue()))
	}
	checkNRI(cfg.NRI, report)
	if failed {
		fmt.Fprintln(w, "host is NOT ready for Krill")
		return 1
	}
	fmt.Fprintln(w, "host is ready for Krill")
	return 0
}

// checkHandler reports one RuntimeClass handler: its binary, version and
// features, a runc older than the 2025 advisory fixes, and crun on a
// hybrid cgroup layout it refuses. Only the default handler is required.
func checkHandler(cfg *config.Config, name string, cg *cgroups.Manager, report func(ok, required bool, what, detail string)) {
	h := cfg.Runtime.AllHandlers()[name]
	what := "handler " + name
	required := name == cfg.Runtime.DefaultHandler
	p, err := findBinary(h.Path, h.Type)
	if err != nil {
		hint := " (apt-get install crun)"
		if h.Type == "runc" {
			hint = " (apt-get install runc, or build a current one: hack/build-runc.sh)"
		}
		report(false, required, what, err.Error()+hint)
		return
	}
	f, err := oci.ProbeFeatures(context.Background(), p)
	if err != nil {
		report(false, required, what, err.Error())
		return
	}
	report(true, required, what, fmt.Sprintf("%s: %s (user namespaces: %v, rro mounts: %v)",
		p, f.Version, f.UserNamespaces, f.RecursiveReadOnlyMounts))
	switch h.Type {
	case "runc":
		if why, err := oci.RuncAdvisory(f.Version); err != nil || why != "" {
			if err != nil {
				why = err.Error()
			}
			report(false, false, what, why+"; hack/build-runc.sh builds a current one")
		}
	case "crun":
		if cg == nil {
			return
		}
		if c := cg.UnifiedControllers(); len(c) > 0 {
			report(false, required, what, fmt.Sprintf("crun cannot run containers on this hybrid cgroup layout: the cgroup2 mount has controllers (%s) while v1 is in use; use runc, or a host with pure v1 or v2", strings.Join(c, " ")))
		}
	}
}

func hasFilesystem(name string) bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasSuffix(s.Text(), "\t"+name) {
			return true
		}
	}
	return false
}

// hasCap reads the effective capability set from /proc/self/status.
func hasCap(bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<bit) != 0
		}
	}
	return false
}

func daemonOOMScoreAdjValue() int {
	b, _ := os.ReadFile("/proc/self/oom_score_adj")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// checkNRI says whether node resource plugins will be consulted, where
// they connect, and whether something already serves that socket (krilld
// would take it over from another runtime).
func checkNRI(c config.NRIConfig, report func(ok, required bool, what, detail string)) {
	if !c.Enable {
		report(true, false, "nri", "disabled ([nri] enable = false): no node resource plugins")
		return
	}
	plugins, _ := filepath.Glob(filepath.Join(c.PluginPath, "*"))
	detail := fmt.Sprintf("enabled: plugins connect at %s; %d pre-installed in %s; request timeout %s",
		c.SocketPath, len(plugins), c.PluginPath, c.RequestTimeout.Duration)
	if conn, err := net.Dial("unix", c.SocketPath); err == nil {
		conn.Close()
		report(false, false, "nri", detail+" (the socket is in use: another runtime or a running krilld)")
		return
	}
	report(true, false, "nri", detail)
}
