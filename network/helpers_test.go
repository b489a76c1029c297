package network

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// debianPlugins is where Debian's containernetworking-plugins live.
const debianPlugins = "/usr/lib/cni"

// testNet is one isolated CNI network for a test: its own bridge, subnet,
// host-local data dir, netns dir and cache dir. Everything is removed when
// the test ends.
type testNet struct {
	m       *Manager
	cfg     Config
	name    string // CNI network name
	bridge  string
	subnet  *net.IPNet
	gateway net.IP
	dataDir string // host-local's allocation files: dataDir/<name>/<ip>
}

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root")
	}
	if _, err := os.Stat(filepath.Join(debianPlugins, "bridge")); err != nil {
		tb.Skipf("needs CNI plugins in %s: %v", debianPlugins, err)
	}
}

func randHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func randInt(tb testing.TB, max int64) int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(max))
	if err != nil {
		tb.Fatal(err)
	}
	return n.Int64()
}

// newTestNet writes a conflist (bridge + host-local + portmap [+ extra
// plugins] [+ loopback]) for a fresh bridge and 10.x subnet and returns a
// Manager using it. extraBinDir, if not "", is searched before Debian's
// plugins.
func newTestNet(tb testing.TB, withLoopback bool, extraPlugins []map[string]any, extraBinDir string) *testNet {
	tb.Helper()
	requireRoot(tb)
	tmp := tb.TempDir()
	tn := &testNet{
		name:    "krtest-" + randHex(tb, 4),
		bridge:  "krtest" + randHex(tb, 3),
		dataDir: filepath.Join(tmp, "ipam"),
	}
	_, tn.subnet, _ = net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", 100+randInt(tb, 100), randInt(tb, 256)))
	tn.gateway = make(net.IP, 4)
	copy(tn.gateway, tn.subnet.IP.To4())
	tn.gateway[3] = 1

	plugins := []any{
		map[string]any{
			"type": "bridge", "bridge": tn.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": tn.subnet.String()}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": tn.dataDir,
			},
		},
		map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
	}
	for _, p := range extraPlugins {
		plugins = append(plugins, p)
	}
	if withLoopback {
		plugins = append(plugins, map[string]any{"type": "loopback"})
	}
	conf := map[string]any{"cniVersion": "1.0.0", "name": tn.name, "plugins": plugins}
	confDir := filepath.Join(tmp, "net.d")
	writeJSON(tb, filepath.Join(confDir, "10-test.conflist"), conf)

	tn.cfg = Config{
		ConfDir:  confDir,
		BinDirs:  []string{debianPlugins},
		NetnsDir: filepath.Join(tmp, "netns"),
		CacheDir: filepath.Join(tmp, "cni-cache"),
	}
	if extraBinDir != "" {
		tn.cfg.BinDirs = []string{extraBinDir, debianPlugins}
	}
	m, err := New(tn.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tn.m = m
	tb.Cleanup(func() {
		// Runs before TempDir's removal (cleanups run last-in first-out).
		if _, err := os.Stat("/sys/class/net/" + tn.bridge); err == nil {
			if out, err := exec.Command("ip", "link", "del", tn.bridge).CombinedOutput(); err != nil {
				tb.Errorf("delete bridge %s: %v: %s", tn.bridge, err, out)
			}
		}
		entries, _ := os.ReadDir(tn.cfg.NetnsDir)
		for _, e := range entries {
			unix.Unmount(filepath.Join(tn.cfg.NetnsDir, e.Name()), unix.MNT_DETACH)
		}
		unix.Unmount(tn.cfg.NetnsDir, unix.MNT_DETACH)
	})
	return tn
}

// newDefaultTestNet is newTestNet with the built-in default conflist, made
// safe to run next to a real krilld: only the network name, the bridge, the
// subnet and host-local's data dir differ.
func newDefaultTestNet(tb testing.TB) *testNet {
	tb.Helper()
	tn := newTestNet(tb, true, nil, "")
	data, err := defaultConflist([]string{tn.subnet.String()}, true)
	if err != nil {
		tb.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(data, &conf); err != nil {
		tb.Fatal(err)
	}
	conf["name"] = tn.name
	bridge := conf["plugins"].([]any)[0].(map[string]any)
	if bridge["bridge"] != DefaultBridge {
		tb.Fatalf("default conflist changed shape: %s", data)
	}
	bridge["bridge"] = tn.bridge
	bridge["ipam"].(map[string]any)["dataDir"] = tn.dataDir
	writeJSON(tb, filepath.Join(tn.cfg.ConfDir, "10-test.conflist"), conf)
	return tn
}

func writeJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// newPod creates a netns for a fresh pod ID and returns its PodNetwork.
func (tn *testNet) newPod(tb testing.TB) PodNetwork {
	tb.Helper()
	id := randHex(tb, 32)
	path, err := tn.m.CreateNetNS(id)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tn.m.RemoveNetNS(path) })
	return PodNetwork{ID: id, Name: "pod-" + id[:8], Namespace: "krill-test", UID: "uid-" + id[:8], NetNS: path}
}

// serveToken listens on addr inside the netns and answers every connection
// with token, so a client can tell which pod it reached.
func serveToken(tb testing.TB, nsPath, addr, token string) {
	tb.Helper()
	var l net.Listener
	err := inNetNS(nsPath, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		tb.Fatalf("listen on %s in %s: %v", addr, nsPath, err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, token)
			c.Close()
		}
	}()
}

// readToken connects to addr (from the host, or from inside nsPath when it
// is not "") and returns what the server sent.
func readToken(tb testing.TB, nsPath, addr string) (string, error) {
	tb.Helper()
	var c net.Conn
	dial := func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}
	var err error
	if nsPath == "" {
		err = dial()
	} else {
		err = inNetNS(nsPath, dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// freePort returns a TCP port nothing listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// assertPresent is assertNoLeaks' positive twin: it proves the leak checks
// look at the right places (a veth on the bridge, the allocation file, a
// rule naming the pod when it has host ports).
func (tn *testNet) assertPresent(tb testing.TB, podID, ip string, hostPorts bool) {
	tb.Helper()
	if ports, err := os.ReadDir("/sys/class/net/" + tn.bridge + "/brif"); err != nil || len(ports) == 0 {
		tb.Errorf("no veth on bridge %s: %v", tn.bridge, err)
	}
	if _, err := os.Stat(filepath.Join(tn.dataDir, tn.name, ip)); err != nil {
		tb.Errorf("no host-local allocation for %s: %v", ip, err)
	}
	if hostPorts {
		out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
		if err != nil {
			tb.Fatalf("iptables-save: %v: %s", err, out)
		}
		if !bytes.Contains(out, []byte(podID)) || !bytes.Contains(out, []byte(ip+":")) {
			tb.Errorf("no portmap rule for pod %s (%s)", podID, ip)
		}
	}
	var found bool
	results, _ := os.ReadDir(filepath.Join(tn.cfg.CacheDir, "results"))
	for _, r := range results {
		found = found || strings.Contains(r.Name(), podID)
	}
	if !found {
		tb.Errorf("no cni cache entry for pod %s", podID)
	}
}

// assertNoLeaks checks that nothing of the pod is left on the host: no veth
// on the test bridge, no host-local allocation, no iptables rule naming the
// pod's IP or ID, no libcni cache entry.
func (tn *testNet) assertNoLeaks(tb testing.TB, podID, ip string) {
	tb.Helper()
	if ports, err := os.ReadDir("/sys/class/net/" + tn.bridge + "/brif"); err == nil && len(ports) > 0 {
		var names []string
		for _, p := range ports {
			names = append(names, p.Name())
		}
		tb.Errorf("bridge %s still has ports %v", tn.bridge, names)
	}
	allocs, _ := os.ReadDir(filepath.Join(tn.dataDir, tn.name))
	for _, a := range allocs {
		if net.ParseIP(a.Name()) != nil {
			tb.Errorf("host-local allocation %s left in %s", a.Name(), tn.dataDir)
		}
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables-save", "-t", table).CombinedOutput()
		if err != nil {
			tb.Fatalf("iptables-save: %v: %s", err, out)
		}
		for _, line := range bytes.Split(out, []byte("\n")) {
			s := string(line)
			if strings.Contains(s, podID) || (ip != "" && strings.Contains(s, ip+"/") || ip != "" && strings.Contains(s, ip+":")) {
				tb.Errorf("iptables %s rule left: %s", table, s)
			}
		}
	}
	results, _ := os.ReadDir(filepath.Join(tn.cfg.CacheDir, "results"))
	for _, r := range results {
		if strings.Contains(r.Name(), podID) {
			tb.Errorf("cni cache entry left: %s", r.Name())
		}
	}
}
