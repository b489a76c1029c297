// Package metrics owns Krill's Prometheus metrics: their names, labels and
// buckets, the collector that reads pod, container and image counts at
// scrape time, and the /metrics HTTP handler.
//
// Other packages only call the small Observe*/Inc* functions here; they
// never import the Prometheus client themselves, so every metric name is
// in one file and `grep krill_` finds them all.
//
// Names follow Prometheus conventions: a krill_ prefix, base units
// (seconds, bytes), _total on counters. The endpoint is off unless
// `[metrics] address` is set, as in containerd.
//
// It must never know about CRI types or hold state of its own beyond the
// metrics.
package metrics
