package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stepBuckets fit pod and container start steps: a few milliseconds
// (netns, spec) up to seconds (runc under load).
var stepBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// pullBuckets fit image pulls and layer unpacks: from a cached pause image
// to a multi-gigabyte image over a slow link.
var pullBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

var (
	rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "krill_cri_request_duration_seconds",
		Help:    "Latency of CRI calls, by RPC.",
		Buckets: prometheus.DefBuckets,
	}, []string{"rpc"})
	rpcErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "krill_cri_request_errors_total",
		Help: "CRI calls that returned an error, by RPC and gRPC code.",
	}, []string{"rpc", "code"})

	startSteps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "krill_pod_start_step_duration_seconds",
		Help: "Time of each step of starting a pod (image, netns, cni, pause, files) " +
			"and creating or starting one of its containers (rootfs, spec, runc, start).",
		Buckets: stepBuckets,
	}, []string{"step"})

	imagePulls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "krill_image_pulls_total",
		Help: "Image pulls that reached a registry, successful or not.",
	})
	imagePullFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "krill_image_pull_failures_total",
		Help: "Failed image pulls, by reason (not_found, unauthenticated, permission_denied, timeout, unavailable, bad_content, canceled, other).",
	}, []string{"reason"})
	imagePullBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "krill_image_pull_bytes_total",
		Help: "Bytes received from registries by image pulls.",
	})
	imagePullDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "krill_image_pull_duration_seconds",
		Help:    "Time of successful image pulls, fetch and unpack included.",
		Buckets: pullBuckets,
	})
	layerUnpack = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "krill_image_layer_unpack_duration_seconds",
		Help:    "Time to unpack one image layer into a snapshot.",
		Buckets: pullBuckets,
	})

	oomKills = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "krill_container_oom_kills_total",
		Help: "Containers that exited because the kernel's OOM killer killed them.",
	})
	recovery = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "krill_recovery_duration_seconds",
		Help: "Time krilld spent recovering pods and containers at its last start.",
	})
)

// global are the metrics the packages update as things happen; the
// collector adds the ones read at scrape time.
var global = []prometheus.Collector{
	rpcDuration, rpcErrors, startSteps, imagePulls, imagePullFailures,
	imagePullBytes, imagePullDuration, layerUnpack, oomKills, recovery,
}

// ObserveRPC records one CRI call; code is the gRPC code's name ("OK" for
// success, which is not counted as an error).
func ObserveRPC(rpc, code string, took time.Duration) {
	rpcDuration.WithLabelValues(rpc).Observe(took.Seconds())
	if code != "OK" {
		rpcErrors.WithLabelValues(rpc, code).Inc()
	}
}

// ObserveStep records one step of starting a pod or container.
func ObserveStep(step string, took time.Duration) {
	startSteps.WithLabelValues(step).Observe(took.Seconds())
}

// ObservePull records a pull that reached a registry: bytes received, and
// on success its duration, on failure its reason.
func ObservePull(bytes int64, took time.Duration, failure string) {
	imagePulls.Inc()
	imagePullBytes.Add(float64(bytes))
	if failure != "" {
		imagePullFailures.WithLabelValues(failure).Inc()
		return
	}
	imagePullDuration.Observe(took.Seconds())
}

// ObserveUnpack records the unpack of one layer.
func ObserveUnpack(took time.Duration) { layerUnpack.Observe(took.Seconds()) }

// IncOOMKill counts a container killed by the OOM killer.
func IncOOMKill() { oomKills.Inc() }

// SetRecovery records how long start-up recovery took.
func SetRecovery(took time.Duration) { recovery.Set(took.Seconds()) }
