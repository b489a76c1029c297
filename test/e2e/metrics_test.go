package e2e

import (
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/krill-runtime/krill/test/testregistry"
)

// TestMetricsMoveWithPodLifecycle scrapes /metrics with Prometheus' own
// text parser after a pull, a failed pull, a pod with a running and an
// OOM-killed container, and a failed call, and checks each named metric
// moved.
func TestMetricsMoveWithPodLifecycle(t *testing.T) {
	e := newEnvWith(t, envOptions{metrics: true})
	podID, podCfg := e.pod("metrics")
	e.container(podID, podCfg, "sleeper", []string{"sleep", "3600"})
	hog := e.memoryHog(podID, podCfg)
	testregistry.WaitFor(30*time.Second, func() bool {
		return e.status(hog).Reason == "OOMKilled"
	})
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: e.reg.Ref("e2e/none:1")}}); err == nil {
		t.Fatal("pull of a missing image succeeded")
	}
	if _, err := e.rt.ContainerStatus(e.ctx(), &runtime.ContainerStatusRequest{ContainerId: "nosuch"}); err == nil {
		t.Fatal("status of an unknown container succeeded")
	}

	// The store's size is measured in the background after the pull.
	var m map[string]*dto.MetricFamily
	testregistry.WaitFor(20*time.Second, func() bool {
		m = scrape(t, e.metricsAddr)
		v, _ := value(m, "krill_image_store_bytes", nil)
		return v >= 1<<20
	})
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"krill_cri_request_duration_seconds", map[string]string{"rpc": "RunPodSandbox"}, 1},
		{"krill_cri_request_duration_seconds", map[string]string{"rpc": "CreateContainer"}, 2},
		{"krill_cri_request_errors_total", map[string]string{"rpc": "ContainerStatus", "code": "NotFound"}, 1},
		{"krill_cri_request_errors_total", map[string]string{"rpc": "PullImage", "code": "NotFound"}, 1},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "netns"}, 1},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "cni"}, 1},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "pause"}, 1},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "spec"}, 2},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "runc"}, 2},
		{"krill_pod_start_step_duration_seconds", map[string]string{"step": "start"}, 2},
		{"krill_image_pulls_total", nil, 2},
		{"krill_image_pull_failures_total", map[string]string{"reason": "not_found"}, 1},
		{"krill_image_pull_bytes_total", nil, 1 << 20}, // busybox alone is ~1 MB
		{"krill_image_pull_duration_seconds", nil, 1},
		{"krill_image_layer_unpack_duration_seconds", nil, 1},
		{"krill_image_store_bytes", nil, 1 << 20},
		{"krill_images", nil, 1},
		{"krill_container_oom_kills_total", nil, 1},
		{"krill_pods", map[string]string{"state": "SANDBOX_READY"}, 1},
		{"krill_containers", map[string]string{"state": "CONTAINER_RUNNING"}, 1},
		{"krill_containers", map[string]string{"state": "CONTAINER_EXITED"}, 1},
		{"krill_shims", nil, 1},
		{"krill_recovery_duration_seconds", nil, 1e-9},
	} {
		if v, ok := value(m, c.name, c.labels); !ok || v < c.min {
			t.Errorf("%s%v = %v (found %v), want >= %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if v, _ := value(m, "krill_pods", map[string]string{"state": "SANDBOX_READY"}); v != 1 {
		t.Errorf("krill_pods{SANDBOX_READY} = %v, want exactly the one pod", v)
	}
}

// scrape fetches and parses krilld's /metrics.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value returns the metric of family name whose labels include want: a
// counter's or gauge's value, a histogram's sample count.
func value(m map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, mt := range f.Metric {
		have := map[string]string{}
		for _, l := range mt.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}
