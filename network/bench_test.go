package network

import (
	"context"
	"slices"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BenchmarkPodNetworkCycle measures what a pod's network costs from start to
// end: CreateNetNS, Setup (bridge + host-local + portmap with one host port
// + loopback), Teardown, RemoveNetNS. p50-ms is the median cycle.
func BenchmarkPodNetworkCycle(b *testing.B) {
	tn := newTestNet(b, true, nil, "")
	hostPort := int32(freePort(b))
	ctx := context.Background()
	var durs []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		id := randHex(b, 32)
		path, err := tn.m.CreateNetNS(id)
		if err != nil {
			b.Fatal(err)
		}
		p := PodNetwork{ID: id, Name: "bench", Namespace: "bench", UID: id[:8], NetNS: path,
			PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: hostPort}}}
		if _, err := tn.m.Setup(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := tn.m.Teardown(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := tn.m.RemoveNetNS(path); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
}
