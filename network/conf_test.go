package network

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPortMappings(t *testing.T) {
	cases := []struct {
		name string
		in   []*runtime.PortMapping
		want []portMapping
		bad  bool
	}{
		{name: "none"},
		{name: "tcp", in: []*runtime.PortMapping{{Protocol: runtime.Protocol_TCP, ContainerPort: 80, HostPort: 8080}},
			want: []portMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}},
		{name: "udp with host ip", in: []*runtime.PortMapping{{Protocol: runtime.Protocol_UDP, ContainerPort: 53, HostPort: 5353, HostIp: "127.0.0.1"}},
			want: []portMapping{{HostPort: 5353, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}},
		{name: "sctp", in: []*runtime.PortMapping{{Protocol: runtime.Protocol_SCTP, ContainerPort: 9, HostPort: 9}},
			want: []portMapping{{HostPort: 9, ContainerPort: 9, Protocol: "sctp"}}},
		{name: "no host port skipped, nil skipped", in: []*runtime.PortMapping{nil, {ContainerPort: 80}, {ContainerPort: 81, HostPort: 12000}},
			want: []portMapping{{HostPort: 12000, ContainerPort: 81, Protocol: "tcp"}}},
		{name: "container port 0", in: []*runtime.PortMapping{{HostPort: 80}}, bad: true},
		{name: "negative host port", in: []*runtime.PortMapping{{ContainerPort: 80, HostPort: -1}}, bad: true},
		{name: "host port too high", in: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 65536}}, bad: true},
		{name: "unknown protocol", in: []*runtime.PortMapping{{Protocol: 3, ContainerPort: 80, HostPort: 80}}, bad: true},
		{name: "bad host ip", in: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 80, HostIp: "localhost"}}, bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := portMappings(c.in)
			if c.bad {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	// The JSON portmap reads.
	b, _ := json.Marshal(portMapping{HostPort: 1, ContainerPort: 2, Protocol: "tcp"})
	if string(b) != `{"hostPort":1,"containerPort":2,"protocol":"tcp"}` {
		t.Errorf("portmap json = %s", b)
	}
}

func TestRuntimeConf(t *testing.T) {
	rt, err := runtimeConf(PodNetwork{
		ID: "abc", Name: "web", Namespace: "default", UID: "u-1", NetNS: "/run/krill/netns/abc",
		PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 8080}},
		CgroupParent: "/kubepods/pod1",
	}, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := [][2]string{
		{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "web"},
		{"K8S_POD_INFRA_CONTAINER_ID", "abc"}, {"K8S_POD_UID", "u-1"},
	}
	if !reflect.DeepEqual(rt.Args, wantArgs) {
		t.Errorf("args = %v", rt.Args)
	}
	if rt.ContainerID != "abc" || rt.IfName != "eth0" || rt.NetNS != "/run/krill/netns/abc" {
		t.Errorf("runtime conf = %+v", rt)
	}
	if pm := rt.CapabilityArgs["portMappings"].([]portMapping); len(pm) != 1 || pm[0].HostPort != 8080 {
		t.Errorf("portMappings = %v", pm)
	}
	if rt.CapabilityArgs["cgroupPath"] != "/kubepods/pod1" {
		t.Errorf("cgroupPath = %v", rt.CapabilityArgs["cgroupPath"])
	}
	// No host port: no portMappings key at all.
	rt, _ = runtimeConf(PodNetwork{ID: "abc", PortMappings: []*runtime.PortMapping{{ContainerPort: 80}}}, "eth0")
	if _, ok := rt.CapabilityArgs["portMappings"]; ok {
		t.Error("portMappings set without host ports")
	}
	for _, bad := range []PodNetwork{{ID: "a", Name: "x;y"}, {ID: "a", Namespace: "K=V"}, {ID: "a", UID: ";"}} {
		if _, err := runtimeConf(bad, "eth0"); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: err = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestDefaultNetwork(t *testing.T) {
	cases := []struct {
		name      string
		podCIDR   string
		wantRange []string
		wantRoute []string
	}{
		{"built-in subnet", "", []string{"10.88.0.0/16"}, []string{"0.0.0.0/0"}},
		{"pod cidr", "10.244.3.0/24", []string{"10.244.3.0/24"}, []string{"0.0.0.0/0"}},
		{"normalized", "10.244.3.7/24", []string{"10.244.3.0/24"}, []string{"0.0.0.0/0"}},
		{"dual stack", "10.244.3.0/24, fd00:10::/64", []string{"10.244.3.0/24", "fd00:10::/64"}, []string{"0.0.0.0/0", "::/0"}},
		{"invalid ignored", "banana", []string{"10.88.0.0/16"}, []string{"0.0.0.0/0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(Config{BinDirs: []string{"/x"}, NetnsDir: "/run/x", CacheDir: "/run/y"})
			if err != nil {
				t.Fatal(err)
			}
			m.SetPodCIDR(c.podCIDR)
			list, source, err := m.loadNetwork()
			if err != nil {
				t.Fatal(err)
			}
			if source != "built-in default" || list.Name != "krill" || list.CNIVersion != "1.0.0" {
				t.Fatalf("list %s %s from %s", list.Name, list.CNIVersion, source)
			}
			var types []string
			for _, p := range list.Plugins {
				types = append(types, p.Network.Type)
			}
			if !reflect.DeepEqual(types, []string{builtinBridgeType, "portmap"}) {
				t.Fatalf("plugins = %v", types)
			}
			// A pod without host ports gets the list without portmap.
			for _, pms := range [][]*runtime.PortMapping{nil, {{ContainerPort: 80}}} {
				rt, err := runtimeConf(PodNetwork{ID: "p", NetNS: "/x", PortMappings: pms}, "eth0")
				if err != nil {
					t.Fatal(err)
				}
				own, _, err := m.podNetwork(rt)
				if err != nil {
					t.Fatal(err)
				}
				if len(own.Plugins) != 1 || own.Plugins[0].Network.Type != builtinBridgeType {
					t.Errorf("pod without host ports %v: plugins %d, first %s", pms, len(own.Plugins), own.Plugins[0].Network.Type)
				}
			}
			rt, err := runtimeConf(PodNetwork{ID: "p", NetNS: "/x", PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 8080}}}, "eth0")
			if err != nil {
				t.Fatal(err)
			}
			if own, _, err := m.podNetwork(rt); err != nil || len(own.Plugins) != 2 {
				t.Errorf("pod with a host port: %v, %v", own, err)
			}
			var bridge struct {
				Bridge    string `json:"bridge"`
				IsGateway bool   `json:"isGateway"`
				IPMasq    *bool  `json:"ipMasq"`
				IPAM      struct {
					Type   string                `json:"type"`
					Ranges [][]map[string]string `json:"ranges"`
					Routes []map[string]string   `json:"routes"`
				} `json:"ipam"`
			}
			if err := json.Unmarshal(list.Plugins[0].Bytes, &bridge); err != nil {
				t.Fatal(err)
			}
			if bridge.Bridge != "krill0" || !bridge.IsGateway || bridge.IPMasq == nil || *bridge.IPMasq || bridge.IPAM.Type != "host-local" {
				t.Errorf("bridge conf = %s", list.Plugins[0].Bytes)
			}
			var ranges, routes []string
			for _, r := range bridge.IPAM.Ranges {
				ranges = append(ranges, r[0]["subnet"])
			}
			for _, r := range bridge.IPAM.Routes {
				routes = append(routes, r["dst"])
			}
			if !reflect.DeepEqual(ranges, c.wantRange) || !reflect.DeepEqual(routes, c.wantRoute) {
				t.Errorf("ranges %v routes %v, want %v %v", ranges, routes, c.wantRange, c.wantRoute)
			}
			if !list.Plugins[1].Network.Capabilities["portMappings"] {
				t.Error("portmap lacks the portMappings capability")
			}
		})
	}
}

func TestLoadNetworkChoosesFirstUsableFile(t *testing.T) {
	write := func(dir, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		files    map[string]string
		wantName string
		wantSrc  string
	}{
		{"lexical order across extensions", map[string]string{
			"20-b.conflist": `{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"}]}`,
			"10-a.conf":     `{"cniVersion":"1.0.0","name":"a","type":"ptp"}`,
			"05-z.json":     `{"cniVersion":"0.4.0","name":"z","type":"macvlan"}`,
		}, "z", "05-z.json"},
		{"broken file skipped", map[string]string{
			"00-broken.conflist": `{"name":`,
			"01-noname.conf":     `{"type":"bridge"}`,
			"10-ok.conflist":     `{"cniVersion":"1.0.0","name":"ok","plugins":[{"type":"bridge"},{"type":"portmap"}]}`,
		}, "ok", "10-ok.conflist"},
		{"other extensions ignored", map[string]string{
			"00-a.txt":      `{"cniVersion":"1.0.0","name":"txt","type":"bridge"}`,
			"10-b.conflist": `{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"}]}`,
		}, "b", "10-b.conflist"},
		{"list in a .conf file", map[string]string{
			"10-l.conf": `{"cniVersion":"1.0.0","name":"l","plugins":[{"type":"bridge"},{"type":"loopback"}]}`,
		}, "l", "10-l.conf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, content := range c.files {
				write(dir, n, content)
			}
			m, err := New(Config{ConfDir: dir, BinDirs: []string{"/x"}, NetnsDir: "/run/x", CacheDir: "/run/y"})
			if err != nil {
				t.Fatal(err)
			}
			list, src, err := m.loadNetwork()
			if err != nil {
				t.Fatal(err)
			}
			if list.Name != c.wantName || src != filepath.Join(dir, c.wantSrc) {
				t.Errorf("got %q from %s, want %q from %s", list.Name, src, c.wantName, c.wantSrc)
			}
		})
	}
}

func TestPodIPs(t *testing.T) {
	idx := func(i int) *int { return &i }
	ipc := func(cidr string, iface *int) *types100.IPConfig {
		ip, n, _ := net.ParseCIDR(cidr)
		n.IP = ip
		return &types100.IPConfig{Address: *n, Interface: iface}
	}
	ifaces := []*types100.Interface{{Name: "krill0"}, {Name: "veth1"}, {Name: "eth0", Sandbox: "/run/krill/netns/x"}}
	cases := []struct {
		name string
		ips  []*types100.IPConfig
		want *Result
	}{
		{"one v4", []*types100.IPConfig{ipc("10.88.0.5/16", idx(2))}, &Result{IP: "10.88.0.5"}},
		{"v6 first, v4 preferred", []*types100.IPConfig{ipc("fd00::5/64", idx(2)), ipc("10.88.0.5/16", idx(2))},
			&Result{IP: "10.88.0.5", AdditionalIPs: []string{"fd00::5"}}},
		{"host side skipped", []*types100.IPConfig{ipc("10.88.0.1/16", idx(0)), ipc("10.88.0.6/16", idx(2))}, &Result{IP: "10.88.0.6"}},
		{"no interface index", []*types100.IPConfig{ipc("10.1.0.2/24", nil)}, &Result{IP: "10.1.0.2"}},
		{"only v6", []*types100.IPConfig{ipc("fd00::7/64", idx(2))}, &Result{IP: "fd00::7"}},
		{"none", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := podIPs(&types100.Result{CNIVersion: "1.0.0", Interfaces: ifaces, IPs: c.ips})
			if c.want == nil {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
