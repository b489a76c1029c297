package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A trimmed Ginkgo v2 JUnit report: one spec of each outcome plus a suite node.
const sampleReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" disabled="0" errors="0" failures="2" time="1.0">
  <testsuite name="CRI validation" package="/x" tests="6" disabled="0" skipped="1" errors="0" failures="2" time="1.0">
    <testcase name="[BeforeSuite]" classname="CRI validation" status="passed" time="0.1"></testcase>
    <testcase name="[It] [k8s.io] Container runtime should support basic operations on container" classname="CRI validation" status="passed" time="0.2"></testcase>
    <testcase name="[It] [k8s.io] Image Manager public image with digest should be pulled and removed" classname="CRI validation" status="failed" time="0.3"><failure message="not found" type="failed">x</failure></testcase>
    <testcase name="[It] [k8s.io] Networking runtime should support DNS config" classname="CRI validation" status="timedout" time="0.3"><failure message="timeout" type="timedout">x</failure></testcase>
    <testcase name="[It] [k8s.io] AppArmor should work" classname="CRI validation" status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
    <testcase name="[It] [k8s.io] Pending spec" classname="CRI validation" status="pending" time="0"><skipped message="pending"></skipped></testcase>
  </testsuite>
</testsuites>`

// capture runs f with os.Stdout redirected and returns what it printed.
func capture(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	f()
	os.Stdout = old
	w.Close()
	return string(<-done)
}

func TestJunit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(path, []byte(sampleReport), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		allow    string
		wantCode int
		wantOut  []string
	}{
		{
			name:     "no allow list",
			wantCode: 1,
			wantOut: []string{
				"FAIL: [It] [k8s.io] Image Manager public image with digest should be pulled and removed",
				"FAIL: [It] [k8s.io] Networking runtime should support DNS config",
				"critest: 1 passed, 2 failed, 2 skipped",
			},
		},
		{
			name:     "one failure tolerated",
			allow:    "image with digest",
			wantCode: 1,
			wantOut: []string{
				"KNOWN-FAIL: [It] [k8s.io] Image Manager public image with digest should be pulled and removed",
				"FAIL: [It] [k8s.io] Networking runtime should support DNS config",
				"critest: 1 known failures tolerated by CRITEST_ALLOW_FAIL",
				"critest: 1 passed, 1 failed, 2 skipped",
			},
		},
		{
			name:     "all failures tolerated",
			allow:    "image with digest|DNS config",
			wantCode: 0,
			wantOut: []string{
				"KNOWN-FAIL: [It] [k8s.io] Image Manager public image with digest should be pulled and removed",
				"KNOWN-FAIL: [It] [k8s.io] Networking runtime should support DNS config",
				"critest: 2 known failures tolerated by CRITEST_ALLOW_FAIL",
				"critest: 1 passed, 0 failed, 2 skipped",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var err error
			out := capture(t, func() { code, err = junit(path, tc.allow) })
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			want := strings.Join(tc.wantOut, "\n") + "\n"
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

func TestJunitErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(bad, []byte("<testsuites><testsuite>"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.xml")
	if err := os.WriteFile(good, []byte(sampleReport), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"missing file": func() error { _, err := junit(filepath.Join(dir, "nope.xml"), ""); return err },
		"broken xml":   func() error { _, err := junit(bad, ""); return err },
		"bad regex":    func() error { _, err := junit(good, "("); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestStats(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var ds []time.Duration
		for _, v := range n {
			ds = append(ds, time.Duration(v)*time.Millisecond)
		}
		return ds
	}
	tests := []struct {
		name                string
		in                  []time.Duration
		mean, median, p95th time.Duration
	}{
		{"one sample", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"unsorted odd", ms(30, 10, 20), 20 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond},
		{"even takes upper median", ms(1, 2, 3, 4), 2500 * time.Microsecond, 3 * time.Millisecond, 4 * time.Millisecond},
		{"p95 of 20 is the 19th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100),
			14*time.Millisecond + 500*time.Microsecond, 11 * time.Millisecond, 19 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mean, median, p95 := stats(tc.in)
			if mean != tc.mean || median != tc.median || p95 != tc.p95th {
				t.Errorf("stats = %v %v %v, want %v %v %v", mean, median, p95, tc.mean, tc.median, tc.p95th)
			}
		})
	}
}

func TestBench(t *testing.T) {
	dir := t.TempDir()
	data := `{"operationsNames":["CreatePod","StopPod"],"numParallel":1,"datapoints":[
		{"sampleIndex":0,"operationsDurationsNs":[100000000,20000000]},
		{"sampleIndex":1,"operationsDurationsNs":[300000000,40000000]}]}`
	if err := os.WriteFile(filepath.Join(dir, "pod_benchmark_data.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	out := capture(t, func() { err = bench(dir) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pod/CreatePod", "200.00ms", "300.00ms", "pod/StopPod", "30.00ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if err := bench(t.TempDir()); err == nil {
		t.Error("empty dir: no error")
	}
}
