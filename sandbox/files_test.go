package sandbox

import (
	"strings"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/store"
)

func TestResolvConf(t *testing.T) {
	got, err := resolvConf(&runtime.DNSConfig{
		Servers:  []string{"10.96.0.10"},
		Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"},
		Options:  []string{"ndots:5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestHostsFile(t *testing.T) {
	p := store.Pod{IP: "10.88.0.7", Config: &runtime.PodSandboxConfig{}}
	h := string(hostsFile(p, "web-0"))
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.88.0.7\tweb-0\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("hosts lacks %q:\n%s", want, h)
		}
	}
}

func TestIsZombieOfUnknownPid(t *testing.T) {
	if !isZombie(1 << 30) {
		t.Fatal("a PID that does not exist counts as gone")
	}
}
