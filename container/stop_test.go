package container

import (
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigquit": syscall.SIGQUIT,
		"9": syscall.SIGKILL, "SIGRTMIN+3": 37, "RTMAX-1": 63, "SIGRTMAX": 64, "SIGIOT": syscall.SIGABRT,
		"SIGNOPE": 0, "0": 0, "65": 0, "SIGRTMIN-1": 0, "SIGRTMIN+31": 0, "": 0,
	} {
		got, err := parseSignal(in)
		if want == 0 {
			if err == nil || !errdefs.IsInvalidArgument(err) {
				t.Errorf("parseSignal(%q) = %v, %v; want InvalidArgument", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestStopSignalOf: the CRI stop signal wins over the image's STOPSIGNAL,
// which wins over SIGTERM; every CRI signal round-trips through the name
// the record keeps; a bad image STOPSIGNAL is refused.
func TestStopSignalOf(t *testing.T) {
	for _, tc := range []struct {
		cri   string
		image string
		want  string
	}{
		{"", "", "SIGTERM"},
		{"", "SIGUSR2", "SIGUSR2"},
		{"", "usr1", "SIGUSR1"},
		{"", "1", "SIGHUP"},
		{"SIGINT", "SIGUSR2", "SIGINT"},
		{"SIGRTMINPLUS3", "", "SIGRTMIN+3"},
		{"SIGRTMAXMINUS2", "", "SIGRTMAX-2"},
	} {
		cri := runtime.Signal(0)
		if tc.cri != "" {
			cri = runtime.Signal(runtime.Signal_value["SIGNAL_"+tc.cri] + runtime.Signal_value[tc.cri])
		}
		got, err := stopSignalOf(cri, tc.image)
		if err != nil || got != tc.want {
			t.Errorf("stopSignalOf(%s, %q) = %q, %v; want %q", tc.cri, tc.image, got, err, tc.want)
		}
	}
	for v, name := range runtime.Signal_name {
		if v == 0 {
			continue
		}
		got, err := stopSignalOf(runtime.Signal(v), "")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if back := criSignal(got); back != runtime.Signal(v) && !strings.Contains("SIGIOT SIGCLD SIGPOLL", strings.TrimPrefix(name, "SIGNAL_")) {
			t.Errorf("%s -> %q -> %v", name, got, back)
		}
	}
	if _, err := stopSignalOf(runtime.Signal(0), "SIGBOGUS"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad image STOPSIGNAL: %v, want InvalidArgument", err)
	}
}
