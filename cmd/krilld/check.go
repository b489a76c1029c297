package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/krill-runtime/krill/apparmor"
	"github.com/krill-runtime/krill/cgroups"
	"github.com/krill-runtime/krill/config"
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

	if p, err := findBinary(cfg.Runtime.RuncPath, "runc"); err != nil {
		report(false, true, "runc", err.Error()+" (apt-get install runc)")
	} else {
		out, err := exec.Command(p, "--version").Output()
		v := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
		report(err == nil, true, "runc", p+": "+v)
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

	if m, err := cgroups.NewManager("/sys/fs/cgroup"); err != nil {
		report(false, true, "cgroups", err.Error())
	} else if d, err := cgroups.ChooseDriver(cfg.Cgroup.Driver, m.Mode(), cgroups.SystemdBooted()); err != nil {
		report(false, true, "cgroups", "mode "+m.Mode()+": "+err.Error())
	} else {
		report(true, true, "cgroups", fmt.Sprintf("mode %s, driver %s (configured %q)", m.Mode(), d, cfg.Cgroup.Driver))
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
