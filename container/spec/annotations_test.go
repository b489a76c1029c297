package spec

import (
	"testing"
)

// TestAnnotationsAllowList: pod and container annotations reach the OCI
// spec only when allowed (default: none), so a pod spec cannot turn them
// into OCI runtime or hook knobs (crun's run.oci.*), and the
// io.kubernetes.cri.* keys stay Krill's whatever is allowed.
func TestAnnotationsAllowList(t *testing.T) {
	knobs := map[string]string{
		"run.oci.keep_original_groups": "1",
		"run.oci.hooks.stdout":         "/etc/passwd",
		"example.com/trace":            "on",
		AnnotationSandboxID:            "forged",
	}
	for _, tc := range []struct {
		name           string
		allow          AllowedAnnotations
		want, wantNot  []string
		podKey, podVal string
	}{
		{name: "default empty", wantNot: []string{"run.oci.keep_original_groups", "run.oci.hooks.stdout", "example.com/trace", "pod.example.com/x"}},
		{name: "exact key", allow: AllowedAnnotations{Container: []string{"example.com/trace"}},
			want: []string{"example.com/trace"}, wantNot: []string{"run.oci.hooks.stdout", "pod.example.com/x"}},
		{name: "prefix", allow: AllowedAnnotations{Container: []string{"run.oci.keep*"}},
			want: []string{"run.oci.keep_original_groups"}, wantNot: []string{"run.oci.hooks.stdout"}},
		{name: "pod list covers pod annotations only", allow: AllowedAnnotations{Pod: []string{"pod.example.com/*", "example.com/trace"}},
			want: []string{"pod.example.com/x"}, wantNot: []string{"example.com/trace"}},
		{name: "forging cri keys", allow: AllowedAnnotations{Pod: []string{"*"}, Container: []string{"*"}},
			want: []string{"example.com/trace", "pod.example.com/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := podInput(t)
			in.SandboxID = "pod1"
			in.Config.Annotations = knobs
			in.Sandbox.Annotations = map[string]string{"pod.example.com/x": "p", AnnotationSandboxName: "forged"}
			in.AllowedAnnotations = tc.allow
			s, err := Generate(in)
			checkErr(t, err, nil)
			for _, k := range tc.want {
				if _, ok := s.Annotations[k]; !ok {
					t.Errorf("allowed annotation %s missing", k)
				}
			}
			for _, k := range tc.wantNot {
				if _, ok := s.Annotations[k]; ok {
					t.Errorf("annotation %s reached the spec", k)
				}
			}
			if s.Annotations[AnnotationSandboxID] != "pod1" || s.Annotations[AnnotationSandboxName] != "pod" {
				t.Errorf("cri annotations forged: %v", s.Annotations)
			}
		})
	}
}
