package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestP50(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // even: mean of 2 and 3, truncated
		{[]time.Duration{10, 40, 20, 30}, 25},
	} {
		in := append([]time.Duration(nil), c.in...)
		if got := p50(c.in); got != c.want {
			t.Errorf("p50(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in { // the caller's slice stays in its order
			if in[i] != c.in[i] {
				t.Fatalf("p50 reordered its input: %v", c.in)
			}
		}
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	if got := median([]float64{1, 2, 3, 10}); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if got := median[float64](nil); got != 0 {
		t.Errorf("median empty = %v", got)
	}
}

func TestParseCPUUsage(t *testing.T) {
	d, err := parseCPUUsage([]byte("18155962858593\n"))
	if err != nil || d != 18155962858593*time.Nanosecond {
		t.Fatalf("got %v, %v", d, err)
	}
	if _, err := parseCPUUsage([]byte("x\n")); err == nil {
		t.Fatal("no error for a bad value")
	}
}

func TestParsePss(t *testing.T) {
	rollup := `55d1f5a4e000-7ffd2c9f1000 ---p 00000000 00:00 0                          [rollup]
Rss:                 884 kB
Pss:                 231 kB
Pss_Dirty:            64 kB
Shared_Clean:        820 kB
`
	n, err := parsePss([]byte(rollup))
	if err != nil || n != 231 {
		t.Fatalf("got %d, %v; want 231 (not Pss_Dirty)", n, err)
	}
	if _, err := parsePss([]byte("Rss: 1 kB\n")); err == nil {
		t.Fatal("no error without a Pss line")
	}
}

func TestPssOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no smaps_rollup")
	}
	if n := pssKiB(os.Getpid()); n <= 0 {
		t.Fatalf("PSS of this test process = %d KiB", n)
	}
}

func TestParsePIDs(t *testing.T) {
	pids, err := parsePIDs([]byte("12\n345\n"))
	if err != nil || len(pids) != 2 || pids[0] != 12 || pids[1] != 345 {
		t.Fatalf("got %v, %v", pids, err)
	}
	if _, err := parsePIDs([]byte("12\nabc\n")); err == nil {
		t.Fatal("no error for a bad line")
	}
}

func TestCgroupTreePIDs(t *testing.T) {
	// A directory laid out like a cgroup: procs in the top and in a child.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("1\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "pod", "ctr"), 0o755)
	os.WriteFile(filepath.Join(dir, "pod", "ctr", "cgroup.procs"), []byte("2\n3\n"), 0o644)
	if got := cgroupPIDs(dir); len(got) != 1 || got[0] != 1 {
		t.Errorf("cgroupPIDs = %v", got)
	}
	if got := cgroupTreePIDs(dir); len(got) != 3 {
		t.Errorf("cgroupTreePIDs = %v", got)
	}
}

func TestFormatAndRatio(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{math.NaN(), "ms", "n/a"},
		{7.24, "ms", "7.2 ms"},
		{133.4, "ms", "133 ms"},
		{0.843, "MiB", "0.84 MiB"},
		{5.04, "%", "5.0 %"},
	} {
		if got := format(c.v, c.unit); got != c.want {
			t.Errorf("format(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
	if got := ratio(75, 133); got != "0.56" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(1, 0); got != "—" {
		t.Errorf("ratio by 0 = %q", got)
	}
	if got := ratio(math.NaN(), 1); got != "—" {
		t.Errorf("ratio of n/a = %q", got)
	}
}

func TestPrintTableMediansAndRatio(t *testing.T) {
	w := &workload{BurstSize: 10, Bursts: 3, Kept: 20}
	mk := func(ready float64, bursts ...float64) *result {
		return &result{ReadyP50: ready, Bursts: bursts, RPCP50: map[string]float64{},
			CPUPerPod: math.NaN(), ShimPSS: math.NaN(), InfraPSS: math.NaN(), IdleCPU: math.NaN()}
	}
	rounds := map[string][]*result{
		"A": {mk(70, 400, 500, 600), mk(80, 450)},
		"B": {mk(140, 700), mk(160, 600, 800)},
	}
	var out bytes.Buffer
	printTable(&out, figures(w), []string{"A", "B"}, rounds)
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "| figure | A | B | ratio |") {
		t.Fatalf("header: %q", lines[0])
	}
	// ready: medians 75 and 150, ratio 0.50. Burst: each round's median
	// (500, 450 and 700, 700), then the median over rounds (475, 700).
	wantRows := []string{
		"| pod + container ready p50 (RunPodSandbox → StartContainer) | 75 ms | 150 ms | 0.50 |",
		"| burst of 10 pods, all running (median of 3) | 475 ms | 700 ms | 0.68 |",
		"| host CPU per pod lifecycle | n/a | n/a | — |",
	}
	for _, row := range wantRows {
		if !strings.Contains(out.String(), row+"\n") {
			t.Errorf("missing row %q in:\n%s", row, out.String())
		}
	}
}
