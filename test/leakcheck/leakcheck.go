// Package leakcheck finds what a krilld left on the host that none of its
// records owns: netns files, veths, host-local IPs, CNI iptables rules,
// cgroups, mounts, shims, runc state and snapshots. Every test harness
// (e2e, fault injection, soak) runs the same checks after its krilld
// restarted, so "nothing leaked" means the same thing everywhere.
//
// It reads krilld's directories and the kernel's tables directly and never
// changes anything.
package leakcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Config says where one krilld keeps its state and which host objects are
// its own.
type Config struct {
	Root, State string
	// Bridge is the CNI bridge of the test network ("" = skip the veth check).
	Bridge string
	// IPAMDir is host-local's dataDir ("" = skip the IP check).
	IPAMDir string
	// Network is the CNI network name, unique to this krilld, that
	// portmap writes into its rules' comments ("" = skip the rule check).
	Network string
	// CgroupParents are the pod cgroup parents the test used, relative to a
	// hierarchy root ("/krill-fault/pod-1"); container and pause cgroups
	// below them must belong to records.
	CgroupParents []string
	// Snapshots also checks image snapshots: only while krilld is stopped,
	// as it holds the snapshot database locked.
	Snapshots bool
}

// Owners are the IDs krilld's records (and quarantined records) own.
type Owners struct {
	Pods, ReadyPods, Containers map[string]bool
}

var hexID = regexp.MustCompile(`[0-9a-f]{64}`)

// Load reads the records under cfg.Root.
func Load(cfg Config) (Owners, error) {
	o := Owners{Pods: map[string]bool{}, ReadyPods: map[string]bool{}, Containers: map[string]bool{}}
	for _, kind := range []string{"pods", "containers"} {
		for _, dir := range []string{filepath.Join(cfg.Root, kind), filepath.Join(cfg.Root, "quarantine", kind)} {
			entries, err := os.ReadDir(dir)
			if err != nil && !os.IsNotExist(err) {
				return o, err
			}
			for _, e := range entries {
				id := e.Name()
				if kind == "containers" {
					o.Containers[id] = true
					continue
				}
				o.Pods[id] = true
				if podNetworkReady(filepath.Join(dir, id, "pod.json")) {
					o.ReadyPods[id] = true
				}
			}
		}
	}
	return o, nil
}

// podNetworkReady tells whether a pod record says its CNI ADD is in force.
// A record that cannot be read (quarantined) counts as ready: its network
// must be left alone.
func podNetworkReady(path string) bool {
	var env struct {
		Record struct {
			NetworkReady bool `json:"network_ready"`
		} `json:"record"`
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &env) != nil {
		return true
	}
	return env.Record.NetworkReady
}

// Check returns one line per leaked object; empty means clean.
func Check(cfg Config) ([]string, error) {
	o, err := Load(cfg)
	if err != nil {
		return nil, err
	}
	var leaks []string
	add := func(format string, a ...any) { leaks = append(leaks, fmt.Sprintf(format, a...)) }
	owned := func(id string) bool { return o.Pods[id] || o.Containers[id] }

	for _, d := range []struct{ dir, what string }{
		{filepath.Join(cfg.State, "netns"), "netns"},
		{filepath.Join(cfg.State, "pods"), "pod state dir"},
		{filepath.Join(cfg.State, "containers"), "bundle"},
		{filepath.Join(cfg.State, "shims"), "shim dir"},
		{filepath.Join(cfg.State, "runc"), "runc state"},
		{filepath.Join(cfg.State, "cni-cache", "intents"), "cni intent"},
	} {
		entries, _ := os.ReadDir(d.dir)
		for _, e := range entries {
			id := strings.TrimSuffix(e.Name(), ".json")
			if !owned(id) {
				add("%s %s", d.what, filepath.Join(d.dir, e.Name()))
			}
		}
	}
	leaks = append(leaks, checkMounts(cfg, owned)...)
	leaks = append(leaks, checkShimProcs(cfg, owned)...)
	leaks = append(leaks, checkNetwork(cfg, o)...)
	leaks = append(leaks, checkCgroups(cfg, owned)...)
	if cfg.Snapshots {
		l, err := checkSnapshots(cfg, owned)
		if err != nil {
			return nil, err
		}
		leaks = append(leaks, l...)
	}
	return leaks, nil
}

// checkMounts: every mount below State or Root belongs to a record (the
// netns directory's own mount and the root tmpfs of a test excepted).
func checkMounts(cfg Config, owned func(string) bool) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{err.Error()}
	}
	var leaks []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := f[4]
		under := strings.HasPrefix(mp, cfg.State+"/") || strings.HasPrefix(mp, cfg.Root+"/")
		if !under || mp == filepath.Join(cfg.State, "netns") {
			continue
		}
		if id := hexID.FindString(mp); id == "" || !owned(id) {
			leaks = append(leaks, "mount "+mp)
		}
	}
	return leaks
}

// checkShimProcs: every running krill-shim of this state dir serves a
// container on record.
func checkShimProcs(cfg Config, owned func(string) bool) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var leaks []string
	shims := filepath.Join(cfg.State, "shims") + "/"
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasSuffix(args[0], "krill-shim") || !strings.Contains(string(b), shims) {
			continue
		}
		if id := hexID.FindString(string(b)); id == "" || !owned(id) {
			leaks = append(leaks, fmt.Sprintf("shim process %s: %s", filepath.Base(filepath.Dir(p)), strings.Join(args, " ")))
		}
	}
	return leaks
}

// checkNetwork: veths on the bridge, host-local IPs and iptables rules
// naming a pod belong to a pod whose network is up.
func checkNetwork(cfg Config, o Owners) []string {
	var leaks []string
	if cfg.Bridge != "" {
		ports, _ := os.ReadDir(filepath.Join("/sys/class/net", cfg.Bridge, "brif"))
		if len(ports) > len(o.ReadyPods) {
			leaks = append(leaks, fmt.Sprintf("%d veths on %s for %d pods with a network", len(ports), cfg.Bridge, len(o.ReadyPods)))
		}
	}
	if cfg.IPAMDir != "" {
		files, _ := filepath.Glob(filepath.Join(cfg.IPAMDir, "*", "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if id := hexID.FindString(string(b)); id != "" && !o.ReadyPods[id] {
				leaks = append(leaks, fmt.Sprintf("host-local IP %s held for %s", filepath.Base(f), id))
			}
		}
	}
	for _, cmd := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(cmd).Output()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			// portmap's comment names the network and the pod: other
			// runtimes' rules on this host are not ours to judge.
			if cfg.Network == "" || !strings.Contains(line, cfg.Network) || !strings.Contains(line, "id: ") {
				continue
			}
			for _, id := range hexID.FindAllString(line, -1) {
				if !o.ReadyPods[id] {
					leaks = append(leaks, fmt.Sprintf("%s rule for %s: %s", cmd, id, line))
				}
			}
		}
	}
	return leaks
}

// checkCgroups: container and pause cgroups under the test's parents
// belong to records.
func checkCgroups(cfg Config, owned func(string) bool) []string {
	var leaks []string
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		for _, parent := range cfg.CgroupParents {
			entries, _ := os.ReadDir(filepath.Join(h, parent))
			for _, e := range entries {
				id := hexID.FindString(e.Name())
				if e.IsDir() && id != "" && !owned(id) {
					leaks = append(leaks, "cgroup "+filepath.Join(h, parent, e.Name()))
				}
			}
		}
	}
	return leaks
}

// checkSnapshots: every snapshot key naming a pod or container belongs to
// a record (image layers are keyed by digests, not IDs, and are skipped).
func checkSnapshots(cfg Config, owned func(string) bool) ([]string, error) {
	path := filepath.Join(cfg.Root, "images", "snapshots", "metadata.db")
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("snapshot db (is krilld still running?): %w", err)
	}
	defer db.Close()
	var leaks []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return walk(b, func(k []byte) {
				if !strings.Contains(string(k), "/") {
					return
				}
				if id := hexID.FindString(string(k)); id != "" && !strings.Contains(string(k), "sha256:") && !owned(id) {
					leaks = append(leaks, "snapshot "+string(k))
				}
			})
		})
	})
	return leaks, err
}

func walk(b *bolt.Bucket, fn func(k []byte)) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			fn(k)
			if nb := b.Bucket(k); nb != nil {
				return walk(nb, fn)
			}
		}
		return nil
	})
}
