package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestNetNSCreateRemove(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	id := randHex(t, 16)
	path, err := tn.m.CreateNetNS(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tn.cfg.NetnsDir, id); path != want {
		t.Fatalf("path = %s, want %s", path, want)
	}
	if !isNetNS(path) {
		t.Fatalf("%s is not a mounted network namespace", path)
	}
	// A new namespace, not ours. /proc/thread-self under a locked thread:
	// /proc/self names the main thread, whatever this goroutine runs on.
	var self, pod unix.Stat_t
	goruntime.LockOSThread()
	err = unix.Stat("/proc/thread-self/ns/net", &self)
	goruntime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &pod); err != nil {
		t.Fatal(err)
	}
	if self.Ino == pod.Ino {
		t.Fatal("pod netns is the host's")
	}
	// The namespace is empty but for lo, which is up already: no CNI
	// configuration needs a loopback plugin.
	err = inNetNS(path, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" {
			return fmt.Errorf("interfaces in new netns: %v", ifs)
		}
		if ifs[0].Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// NetnsDir is a shared mount, like /run/netns.
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var shared bool
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[4] == tn.cfg.NetnsDir && strings.Contains(line, " shared:") {
			shared = true
		}
	}
	if !shared {
		t.Errorf("%s is not a shared mount point", tn.cfg.NetnsDir)
	}

	if _, err := tn.m.CreateNetNS(id); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second CreateNetNS: err = %v, want ErrAlreadyExists", err)
	}

	for i := 0; i < 2; i++ { // idempotent
		if err := tn.m.RemoveNetNS(path); err != nil {
			t.Fatalf("RemoveNetNS #%d: %v", i+1, err)
		}
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns file still there: %v", err)
	}
	if err := tn.m.RemoveNetNS(""); err != nil {
		t.Errorf("RemoveNetNS(\"\"): %v", err)
	}
}

func TestNetNSBadInput(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	for _, id := range []string{"", ".", "..", "a/b", "../x", "-x", "a b"} {
		if _, err := tn.m.CreateNetNS(id); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("CreateNetNS(%q): err = %v, want ErrInvalidArgument", id, err)
		}
	}
	for _, p := range []string{"/etc/hosts", "/proc", tn.cfg.NetnsDir, filepath.Join(tn.cfg.NetnsDir, "a", "..", "..", "x")} {
		if err := tn.m.RemoveNetNS(p); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("RemoveNetNS(%q): err = %v, want ErrInvalidArgument", p, err)
		}
	}
	// A stale file (crash between create and mount) does not block the ID.
	if err := os.MkdirAll(tn.cfg.NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := randHex(t, 16)
	if err := os.WriteFile(filepath.Join(tn.cfg.NetnsDir, id), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	path, err := tn.m.CreateNetNS(id)
	if err != nil {
		t.Fatalf("CreateNetNS over a stale file: %v", err)
	}
	if err := tn.m.RemoveNetNS(path); err != nil {
		t.Fatal(err)
	}
}

// setup runs Setup and checks the address is on eth0 in the pod, inside the
// test subnet, and that lo is up.
func (tn *testNet) setup(t *testing.T, p PodNetwork) *Result {
	t.Helper()
	res, err := tn.m.Setup(context.Background(), p)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	ip := net.ParseIP(res.IP)
	if ip == nil || ip.To4() == nil || !tn.subnet.Contains(ip) {
		t.Fatalf("pod IP %q not an IPv4 of %s", res.IP, tn.subnet)
	}
	err = inNetNS(p.NetNS, func() error {
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := eth0.Addrs()
		if err != nil {
			return err
		}
		found := slices.ContainsFunc(addrs, func(a net.Addr) bool {
			n, ok := a.(*net.IPNet)
			return ok && n.IP.Equal(ip)
		})
		if !found {
			return fmt.Errorf("eth0 addresses %v lack %s", addrs, ip)
		}
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if lo.Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("in pod netns: %v", err)
	}
	tn.assertPresent(t, p.ID, res.IP, len(p.PortMappings) > 0)
	return res
}

func TestSetupTeardown(t *testing.T) {
	for _, withLoopback := range []bool{true, false} {
		t.Run(fmt.Sprintf("loopbackInConfig=%v", withLoopback), func(t *testing.T) {
			tn := newTestNet(t, withLoopback, nil, "")
			a, b := tn.newPod(t), tn.newPod(t)
			resA := tn.setup(t, a)
			resB := tn.setup(t, b)
			if resA.IP == resB.IP {
				t.Fatalf("both pods got %s", resA.IP)
			}

			// Host -> pod, pod -> pod, pod -> its own localhost.
			serveToken(t, a.NetNS, net.JoinHostPort(resA.IP, "8080"), "pod-a")
			serveToken(t, a.NetNS, "127.0.0.1:8081", "pod-a-lo")
			if got, err := readToken(t, "", net.JoinHostPort(resA.IP, "8080")); err != nil || got != "pod-a" {
				t.Errorf("host -> pod A: got %q, %v", got, err)
			}
			if got, err := readToken(t, b.NetNS, net.JoinHostPort(resA.IP, "8080")); err != nil || got != "pod-a" {
				t.Errorf("pod B -> pod A: got %q, %v", got, err)
			}
			if got, err := readToken(t, a.NetNS, "127.0.0.1:8081"); err != nil || got != "pod-a-lo" {
				t.Errorf("pod A -> its localhost: got %q, %v", got, err)
			}

			for _, p := range []PodNetwork{a, b} {
				for i := 0; i < 2; i++ { // idempotent
					if err := tn.m.Teardown(context.Background(), p); err != nil {
						t.Fatalf("Teardown #%d: %v", i+1, err)
					}
				}
			}
			tn.assertNoLeaks(t, a.ID, resA.IP)
			tn.assertNoLeaks(t, b.ID, resB.IP)
			if _, err := readToken(t, b.NetNS, net.JoinHostPort(resA.IP, "8080")); err == nil {
				t.Error("pod B still reaches pod A after teardown")
			}
		})
	}
}

// Pods come and go concurrently (kubelet starts several at once): each gets
// its own address and leaves nothing behind.
func TestConcurrentPods(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	const n = 4
	pods := make([]PodNetwork, n)
	for i := range pods {
		pods[i] = tn.newPod(t)
		pods[i].PortMappings = []*runtime.PortMapping{{ContainerPort: 80, HostPort: int32(freePort(t))}}
	}
	results := make([]*Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() { results[i], errs[i] = tn.m.Setup(context.Background(), pods[i]) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range pods {
		if errs[i] != nil {
			t.Fatalf("Setup pod %d: %v", i, errs[i])
		}
		if seen[results[i].IP] {
			t.Fatalf("IP %s handed out twice", results[i].IP)
		}
		seen[results[i].IP] = true
	}
	for i := range pods {
		wg.Go(func() { errs[i] = tn.m.Teardown(context.Background(), pods[i]) })
	}
	wg.Wait()
	for i := range pods {
		if errs[i] != nil {
			t.Errorf("Teardown pod %d: %v", i, errs[i])
		}
		tn.assertNoLeaks(t, pods[i].ID, results[i].IP)
	}
}

func TestHostPort(t *testing.T) {
	nets := map[string]func(testing.TB) *testNet{
		"test network":             func(tb testing.TB) *testNet { return newTestNet(tb, true, nil, "") },
		"built-in default network": newDefaultTestNet,
	}
	for name, newNet := range nets {
		t.Run(name, func(t *testing.T) {
			tn := newNet(t)
			p := tn.newPod(t)
			hostPort := freePort(t)
			p.PortMappings = []*runtime.PortMapping{
				{Protocol: runtime.Protocol_TCP, ContainerPort: 8080, HostPort: int32(hostPort)},
				{Protocol: runtime.Protocol_TCP, ContainerPort: 9090}, // no host port: nothing forwarded
			}
			res := tn.setup(t, p)
			serveToken(t, p.NetNS, "0.0.0.0:8080", "pod")

			// 127.0.0.1 is what critest's port mapping spec GETs.
			for _, host := range []string{"127.0.0.1", tn.gateway.String()} {
				addr := net.JoinHostPort(host, strconv.Itoa(hostPort))
				if got, err := readToken(t, "", addr); err != nil || got != "pod" {
					t.Errorf("host port via %s: got %q, %v", addr, got, err)
				}
			}

			if err := tn.m.Teardown(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			tn.assertNoLeaks(t, p.ID, res.IP)
			if _, err := readToken(t, "", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))); err == nil {
				t.Error("host port still forwarded after teardown")
			}
		})
	}
}

// A plugin failing after bridge and portmap did their part: Setup must undo
// the veth, the address and the port forward.
func TestSetupFailureLeaksNothing(t *testing.T) {
	bin := t.TempDir()
	script := `#!/bin/sh
case "$CNI_COMMAND" in
ADD)
	cat >/dev/null
	echo '{"cniVersion":"1.0.0","code":999,"msg":"krill test: injected failure"}'
	exit 1;;
VERSION)
	echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}';;
*)
	cat >/dev/null;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "krill-fail"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tn := newTestNet(t, true, []map[string]any{{"type": "krill-fail"}}, bin)
	p := tn.newPod(t)
	p.PortMappings = []*runtime.PortMapping{{ContainerPort: 8080, HostPort: int32(freePort(t))}}

	res, err := tn.m.Setup(context.Background(), p)
	if err == nil {
		t.Fatalf("Setup succeeded with a failing plugin: %+v", res)
	}
	if !strings.Contains(err.Error(), "injected failure") {
		t.Errorf("error does not carry the plugin's message: %v", err)
	}
	if _, err := os.Stat("/sys/class/net/" + tn.bridge); err != nil {
		t.Fatalf("bridge plugin never ran (no bridge %s): the test proves nothing", tn.bridge)
	}
	tn.assertNoLeaks(t, p.ID, "")
	err = inNetNS(p.NetNS, func() error {
		if _, err := net.InterfaceByName("eth0"); err == nil {
			return errors.New("eth0 still in the pod")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// The netns is gone before Teardown (node reboot, or removed first): DEL must
// still release the address and the port forward.
func TestTeardownAfterNetNSRemoved(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	p := tn.newPod(t)
	p.PortMappings = []*runtime.PortMapping{{ContainerPort: 80, HostPort: int32(freePort(t))}}
	res := tn.setup(t, p)
	if err := tn.m.RemoveNetNS(p.NetNS); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := tn.m.Teardown(context.Background(), p); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	tn.assertNoLeaks(t, p.ID, res.IP)
}

// After a restart with a changed ConfDir, DEL uses what was cached at ADD.
func TestTeardownUsesCache(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	p := tn.newPod(t)
	p.PortMappings = []*runtime.PortMapping{{ContainerPort: 80, HostPort: int32(freePort(t))}}
	res := tn.setup(t, p)

	cfg := tn.cfg
	cfg.ConfDir = t.TempDir()
	writeJSON(t, filepath.Join(cfg.ConfDir, "00-other.conflist"), map[string]any{
		"cniVersion": "1.0.0", "name": "other",
		"plugins": []any{map[string]any{"type": "no-such-plugin"}},
	})
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.PortMappings = nil // the cache has them
	if err := restarted.Teardown(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	tn.assertNoLeaks(t, p.ID, res.IP)
}

func TestSetupBadInput(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	p := tn.newPod(t)
	cases := map[string]PodNetwork{
		"no netns":      {ID: p.ID},
		"netns not ns":  {ID: p.ID, NetNS: "/etc/hostname"},
		"bad id":        {ID: "../x", NetNS: p.NetNS},
		"bad arg":       {ID: p.ID, NetNS: p.NetNS, Name: "a;K8S_POD_NAME=b"},
		"bad port":      {ID: p.ID, NetNS: p.NetNS, PortMappings: []*runtime.PortMapping{{ContainerPort: 0, HostPort: 80}}},
		"bad protocol":  {ID: p.ID, NetNS: p.NetNS, PortMappings: []*runtime.PortMapping{{Protocol: 7, ContainerPort: 80, HostPort: 80}}},
		"bad host ip":   {ID: p.ID, NetNS: p.NetNS, PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 80, HostIp: "x"}}},
		"port too high": {ID: p.ID, NetNS: p.NetNS, PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 70000}}},
	}
	for name, pn := range cases {
		if _, err := tn.m.Setup(context.Background(), pn); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	tn.assertNoLeaks(t, p.ID, "")
}

func TestStatus(t *testing.T) {
	requireRoot(t)
	emptyBin := t.TempDir()
	onlyLoopback, onlyBridge := t.TempDir(), t.TempDir()
	for dir, plugin := range map[string]string{onlyLoopback: "loopback", onlyBridge: "bridge"} {
		if err := os.Symlink(filepath.Join(debianPlugins, plugin), filepath.Join(dir, plugin)); err != nil {
			t.Fatal(err)
		}
	}
	goodConf := t.TempDir()
	writeJSON(t, filepath.Join(goodConf, "10-a.conflist"), map[string]any{
		"cniVersion": "1.0.0", "name": "a", "plugins": []any{map[string]any{"type": "bridge"}},
	})
	brokenConf := t.TempDir()
	if err := os.WriteFile(filepath.Join(brokenConf, "10-x.conflist"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		confDir string
		binDirs []string
		ready   bool
		inMsg   string
	}{
		{"default network, plugins present", t.TempDir(), []string{"/nonexistent", debianPlugins}, true, ""},
		// The built-in bridge is krilld's own; portmap (for host ports) is not.
		{"default network, no plugins", t.TempDir(), []string{emptyBin}, false, `"portmap" not found`},
		{"default network, only loopback", t.TempDir(), []string{onlyLoopback}, false, `"portmap" not found`},
		{"no conf dir at all", "", []string{emptyBin}, false, "not found"},
		{"conf file, plugins present", goodConf, []string{debianPlugins}, true, ""},
		{"conf file, no plugins", goodConf, []string{emptyBin, "/nonexistent"}, false, "not found"},
		{"conf file, only bridge", goodConf, []string{onlyBridge}, true, ""},
		{"only a broken conf file", brokenConf, []string{debianPlugins}, false, "no usable cni config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(Config{ConfDir: c.confDir, BinDirs: c.binDirs, NetnsDir: "/run/krill-test-unused", CacheDir: "/run/krill-test-unused"})
			if err != nil {
				t.Fatal(err)
			}
			ready, reason, msg := m.Status()
			if ready != c.ready {
				t.Fatalf("ready = %v (%s: %s), want %v", ready, reason, msg, c.ready)
			}
			if !ready && (reason != "NetworkPluginNotReady" || !strings.Contains(msg, c.inMsg)) {
				t.Errorf("reason %q message %q, want NetworkPluginNotReady and %q", reason, msg, c.inMsg)
			}
			if ready && (reason != "" || msg != "") {
				t.Errorf("ready with reason %q message %q", reason, msg)
			}
		})
	}
}

// TestNetNSNeverMovesMainThread: the thread that unshares is lost with its
// goroutine, and the main thread cannot be; after many creations the main
// thread (what /proc/self names) must still be in the host namespace.
func TestNetNSNeverMovesMainThread(t *testing.T) {
	tn := newTestNet(t, true, nil, "")
	for i := 0; i < 30; i++ {
		path, err := tn.m.CreateNetNS(fmt.Sprintf("mainthread-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := tn.m.RemoveNetNS(path); err != nil {
			t.Fatal(err)
		}
	}
	var main, host unix.Stat_t
	goruntime.LockOSThread()
	err := unix.Stat("/proc/thread-self/ns/net", &host)
	goruntime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/net", &main); err != nil {
		t.Fatal(err)
	}
	if main.Ino != host.Ino {
		t.Fatal("the main thread was left in a pod network namespace")
	}
}
