package main

import (
	"context"

	"github.com/krill-runtime/krill/image"
	"github.com/krill-runtime/krill/metrics"
	"github.com/krill-runtime/krill/oci"
	"github.com/krill-runtime/krill/store"
)

// metricSources tells the metrics collector where to read counts at
// scrape time.
func metricSources(pods *store.Store[store.Pod], ctrs *store.Store[store.Container], rt *oci.Runtime, images *image.Service) metrics.Sources {
	return metrics.Sources{
		PodStates: func() map[string]int {
			n := map[string]int{}
			for _, p := range pods.List() {
				n[p.State.String()]++
			}
			return n
		},
		ContainerStates: func() map[string]int {
			n := map[string]int{}
			for _, c := range ctrs.List() {
				n[c.State.String()]++
			}
			return n
		},
		Shims: rt.Shims,
		ImageStore: func() (int, uint64) {
			n, _ := images.Count(context.Background())
			bytes, _ := images.CachedUsage()
			return n, bytes
		},
	}
}
