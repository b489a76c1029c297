package network

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newBuiltinTestNet is the built-in default network (krill-bridge, no
// portmap: the list a pod without host ports gets) on a test bridge and
// subnet(s), with a plugin dir that holds no bridge or host-local binary:
// whatever works below, krilld did itself.
func newBuiltinTestNet(tb testing.TB, extraCIDRs ...string) *testNet {
	tb.Helper()
	tn := newTestNet(tb, false, nil, "")
	data, err := defaultConflist(append([]string{tn.subnet.String()}, extraCIDRs...), false)
	if err != nil {
		tb.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(data, &conf); err != nil {
		tb.Fatal(err)
	}
	conf["name"] = tn.name
	bridge := conf["plugins"].([]any)[0].(map[string]any)
	bridge["bridge"] = tn.bridge
	bridge["ipam"].(map[string]any)["dataDir"] = tn.dataDir
	writeJSON(tb, filepath.Join(tn.cfg.ConfDir, "10-test.conflist"), conf)
	tn.cfg.BinDirs = []string{tb.TempDir()} // no plugin binary at all
	if tn.m, err = New(tn.cfg); err != nil {
		tb.Fatal(err)
	}
	return tn
}

// The built-in bridge does the bridge and host-local plugins' work in
// krilld: pods get distinct addresses, reach the host, each other and
// themselves, hairpin is on, and DEL leaves nothing.
func TestBuiltinBridge(t *testing.T) {
	tn := newBuiltinTestNet(t)
	a, b := tn.newPod(t), tn.newPod(t)
	resA, resB := tn.setup(t, a), tn.setup(t, b)
	if resA.IP == resB.IP || !tn.subnet.Contains(net.ParseIP(resA.IP)) || !tn.subnet.Contains(net.ParseIP(resB.IP)) {
		t.Fatalf("addresses %s, %s (subnet %s)", resA.IP, resB.IP, tn.subnet)
	}
	tn.assertPresent(t, a.ID, resA.IP, false)
	serveToken(t, a.NetNS, net.JoinHostPort(resA.IP, "8080"), "pod-a")
	for _, from := range []struct{ name, ns string }{{"host", ""}, {"pod B", b.NetNS}, {"pod A itself", a.NetNS}} {
		if got, err := readToken(t, from.ns, net.JoinHostPort(resA.IP, "8080")); err != nil || got != "pod-a" {
			t.Errorf("%s -> pod A: got %q, %v", from.name, got, err)
		}
	}
	ports, _ := filepath.Glob("/sys/class/net/" + tn.bridge + "/brif/*/hairpin_mode")
	if len(ports) != 2 {
		t.Fatalf("bridge ports %v, want 2", ports)
	}
	for _, p := range ports {
		if v, err := os.ReadFile(p); err != nil || strings.TrimSpace(string(v)) != "1" {
			t.Errorf("%s = %q, %v; want hairpin on", p, v, err)
		}
	}
	if v, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(v)) != "1" {
		t.Errorf("ip_forward = %q", v)
	}
	// The verbose status reads libcni's cache: the pod's interface is there.
	atts, err := tn.m.Attachments(a.ID)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments %v, %v", atts, err)
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
}

// Addresses live in host-local's files, shared with the host-local binary
// and kept across krilld restarts: a new Manager (a restarted krilld) and
// a pod set up by the binary plugins on the same data dir never get an
// address that is taken.
func TestBuiltinBridgeNoDuplicateAddresses(t *testing.T) {
	tn := newBuiltinTestNet(t)
	a := tn.newPod(t)
	resA := tn.setup(t, a)

	restarted, err := New(tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := tn.newPod(t)
	resB, err := restarted.Setup(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	// The same bridge, subnet and data dir through the binaries.
	bin := newTestNet(t, false, nil, "")
	conf := map[string]any{"cniVersion": "1.0.0", "name": tn.name, "plugins": []any{map[string]any{
		"type": "bridge", "bridge": tn.bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
		"ipam": map[string]any{"type": "host-local", "ranges": [][]map[string]string{{{"subnet": tn.subnet.String()}}}, "dataDir": tn.dataDir},
	}}}
	writeJSON(t, filepath.Join(bin.cfg.ConfDir, "10-test.conflist"), conf)
	c := bin.newPod(t)
	resC, err := bin.m.Setup(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ip := range []string{resA.IP, resB.IP, resC.IP} {
		if seen[ip] {
			t.Fatalf("address %s handed out twice: %s %s %s", ip, resA.IP, resB.IP, resC.IP)
		}
		seen[ip] = true
	}
	// Each side tears down what the other set up just as well.
	if err := tn.m.Teardown(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := bin.m.Teardown(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Teardown(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	tn.assertNoLeaks(t, a.ID, resA.IP)
}

// DEL after the netns is gone (a node reboot) still frees the address.
func TestBuiltinBridgeTeardownWithoutNetNS(t *testing.T) {
	tn := newBuiltinTestNet(t)
	p := tn.newPod(t)
	res := tn.setup(t, p)
	if err := tn.m.RemoveNetNS(p.NetNS); err != nil {
		t.Fatal(err)
	}
	if err := tn.m.Teardown(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	// The kernel frees an unmounted netns, and with it the pod's veth end
	// and so the host end, a moment later: wait for the bridge to lose it.
	for i := 0; i < 100; i++ {
		if ports, _ := os.ReadDir("/sys/class/net/" + tn.bridge + "/brif"); len(ports) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	tn.assertNoLeaks(t, p.ID, res.IP)
}

// The threads that enter a pod's netns die with their goroutine: none
// stays behind holding the namespace (and the Go scheduler never gets one
// back in a foreign namespace).
func TestInNetNSLeavesNoThread(t *testing.T) {
	tn := newBuiltinTestNet(t)
	p := tn.newPod(t)
	threads := func() int { e, _ := os.ReadDir("/proc/self/task"); return len(e) }
	before := threads()
	ns, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 20; i++ {
		if err := inNetNS(p.NetNS, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if after := threads(); after > before+2 {
		t.Errorf("threads %d -> %d after 20 inNetNS calls", before, after)
	}
	if now, _ := os.Readlink("/proc/self/ns/net"); now != ns {
		t.Errorf("main thread's netns %s, was %s", now, ns)
	}
}

// Dual stack: one address per subnet, the IPv4 one first, both usable.
func TestBuiltinBridgeDualStack(t *testing.T) {
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("no IPv6 on this host")
	}
	v6 := "fd00:" + randHex(t, 2) + "::/64"
	tn := newBuiltinTestNet(t, v6)
	a, b := tn.newPod(t), tn.newPod(t)
	resA, _ := tn.setup(t, a), tn.setup(t, b)
	if len(resA.AdditionalIPs) != 1 || net.ParseIP(resA.IP).To4() == nil || net.ParseIP(resA.AdditionalIPs[0]).To4() != nil {
		t.Fatalf("pod addresses %s %v, want IPv4 then IPv6", resA.IP, resA.AdditionalIPs)
	}
	serveToken(t, a.NetNS, net.JoinHostPort(resA.AdditionalIPs[0], "8080"), "pod-a6")
	got, err := readToken(t, b.NetNS, net.JoinHostPort(resA.AdditionalIPs[0], "8080"))
	if err != nil || got != "pod-a6" {
		t.Errorf("pod B -> pod A over IPv6: got %q, %v", got, err)
	}
	for _, p := range []PodNetwork{a, b} {
		if err := tn.m.Teardown(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	tn.assertNoLeaks(t, a.ID, resA.IP)
}

// An ADD that fails half-way (here: the pod already has an eth0) leaves
// no address taken and no veth on the bridge.
func TestBuiltinBridgeFailedAddLeaksNothing(t *testing.T) {
	tn := newBuiltinTestNet(t)
	p := tn.newPod(t)
	res := tn.setup(t, p)
	list, _, err := tn.m.loadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "other", "CNI_NETNS": p.NetNS, "CNI_IFNAME": "eth0"}
	if _, err := bridgeAdd(list.Plugins[0].Bytes, env); err == nil {
		t.Fatal("a second eth0 in the pod was added")
	}
	allocs, _ := os.ReadDir(filepath.Join(tn.dataDir, tn.name))
	for _, a := range allocs {
		if ip := net.ParseIP(a.Name()); ip != nil && a.Name() != res.IP {
			t.Errorf("failed ADD left allocation %s", a.Name())
		}
	}
	if ports, _ := os.ReadDir("/sys/class/net/" + tn.bridge + "/brif"); len(ports) != 1 {
		t.Errorf("bridge ports after the failed ADD: %d, want 1", len(ports))
	}
	if err := tn.m.Teardown(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	tn.assertNoLeaks(t, p.ID, res.IP)
}
