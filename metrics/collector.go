package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Sources are read at every scrape, so the numbers are never stale and
// nothing has to be kept in step as pods come and go. Each may be nil.
type Sources struct {
	// PodStates counts pods by CRI state name (SANDBOX_READY, ...).
	PodStates func() map[string]int
	// ContainerStates counts containers by CRI state name.
	ContainerStates func() map[string]int
	// Shims counts the krill-shim processes alive.
	Shims func() int
	// ImageStore reports the image count and the bytes the image store
	// uses on disk (from its cached usage, never a fresh walk).
	ImageStore func() (images int, bytes uint64)
}

var (
	podsDesc       = prometheus.NewDesc("krill_pods", "Pod sandboxes, by state.", []string{"state"}, nil)
	containersDesc = prometheus.NewDesc("krill_containers", "Containers, by state.", []string{"state"}, nil)
	shimsDesc      = prometheus.NewDesc("krill_shims", "krill-shim processes alive (one per app container).", nil, nil)
	imagesDesc     = prometheus.NewDesc("krill_images", "Images in the image store.", nil, nil)
	storeDesc      = prometheus.NewDesc("krill_image_store_bytes", "Bytes the image store uses on disk (content, snapshots, metadata).", nil, nil)
)

type stateCollector struct{ src Sources }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{podsDesc, containersDesc, shimsDesc, imagesDesc, storeDesc} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	byState := func(d *prometheus.Desc, f func() map[string]int) {
		if f == nil {
			return
		}
		for state, n := range f() {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n), state)
		}
	}
	byState(podsDesc, c.src.PodStates)
	byState(containersDesc, c.src.ContainerStates)
	if c.src.Shims != nil {
		ch <- prometheus.MustNewConstMetric(shimsDesc, prometheus.GaugeValue, float64(c.src.Shims()))
	}
	if c.src.ImageStore != nil {
		n, bytes := c.src.ImageStore()
		ch <- prometheus.MustNewConstMetric(imagesDesc, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(storeDesc, prometheus.GaugeValue, float64(bytes))
	}
}
