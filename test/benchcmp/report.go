package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// figure is one row of the table: how to read it from a round's result.
type figure struct {
	label string
	unit  string
	get   func(*result) float64
}

// figures are the rows of issue 19's table, in its order, then the
// remaining per-RPC latencies and the memory split.
func figures(w *workload) []figure {
	rpc := func(name string) figure {
		return figure{name + " p50", "ms", func(r *result) float64 { return r.RPCP50[name] }}
	}
	fs := []figure{
		{"pod + container ready p50 (RunPodSandbox → StartContainer)", "ms", func(r *result) float64 { return r.ReadyP50 }},
		{"full lifecycle p50", "ms", func(r *result) float64 { return r.LifecycleP50 }},
		{fmt.Sprintf("burst of %d pods, all running (median of %d)", w.BurstSize, w.Bursts), "ms",
			func(r *result) float64 { return median(r.Bursts) }},
		{"host CPU per pod lifecycle", "ms", func(r *result) float64 { return r.CPUPerPod }},
		rpc("CreateContainer"), rpc("StartContainer"), rpc("RemoveContainer"),
		{"per-pod memory PSS (shim + pause)", "MiB", func(r *result) float64 { return r.ShimPSS + r.InfraPSS }},
		{fmt.Sprintf("ListContainerStats p50, %d pods", w.Kept), "ms", func(r *result) float64 { return r.StatsP50 }},
		{fmt.Sprintf("idle CPU with %d pods", w.Kept), "%", func(r *result) float64 { return r.IdleCPU }},
	}
	for _, name := range []string{"RunPodSandbox", "StopContainer", "StopPodSandbox", "RemovePodSandbox"} {
		fs = append(fs, rpc(name))
	}
	return append(fs,
		figure{"  per-pod PSS: shims", "MiB", func(r *result) float64 { return r.ShimPSS }},
		figure{"  per-pod PSS: pause", "MiB", func(r *result) float64 { return r.InfraPSS }},
	)
}

// format prints v with its unit; NaN (not measured) as "n/a".
func format(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case unit == "MiB":
		return fmt.Sprintf("%.2f MiB", v)
	case unit == "%":
		return fmt.Sprintf("%.1f %%", v)
	case v < 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// ratio is a/b as printed; "—" when b is 0 or either is not measured.
func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// medianOf is the median of one figure over rounds (NaN when no round
// measured it).
func medianOf(f figure, rounds []*result) float64 {
	var xs []float64
	for _, r := range rounds {
		if v := f.get(r); !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	return median(xs)
}

// printTable writes the comparison: per runtime the median over its
// rounds, and the ratio of the first runtime to the second.
func printTable(out io.Writer, fs []figure, names []string, rounds map[string][]*result) {
	fmt.Fprintf(out, "| figure | %s | ratio |\n|---|%s---|\n", strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	for _, f := range fs {
		vals := make([]float64, len(names))
		cells := make([]string, len(names))
		for i, n := range names {
			vals[i] = medianOf(f, rounds[n])
			cells[i] = format(vals[i], f.unit)
		}
		r := "—"
		if len(vals) == 2 {
			r = ratio(vals[0], vals[1])
		}
		fmt.Fprintf(out, "| %s | %s | %s |\n", f.label, strings.Join(cells, " | "), r)
	}
}

// printRaw writes every round's own figures, in the order they ran.
func printRaw(out io.Writer, fs []figure, order []*result) {
	var head []string
	for _, r := range order {
		head = append(head, fmt.Sprintf("%d: %s", r.Round, r.Runtime))
	}
	fmt.Fprintf(out, "| figure | %s |\n|---|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(order)))
	for _, f := range fs {
		var cells []string
		for _, r := range order {
			cells = append(cells, format(f.get(r), f.unit))
		}
		fmt.Fprintf(out, "| %s | %s |\n", f.label, strings.Join(cells, " | "))
	}
	var bursts []string
	for _, r := range order {
		var bs []string
		for _, b := range r.Bursts {
			bs = append(bs, fmt.Sprintf("%.0f", b))
		}
		bursts = append(bursts, strings.Join(bs, "/"))
	}
	fmt.Fprintf(out, "| each burst (ms) | %s |\n", strings.Join(bursts, " | "))
}
