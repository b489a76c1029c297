package store

import "strings"

// MatchLabels reports whether labels carry every key=value of selector,
// the only selector form CRI list filters use.
func MatchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// MatchID reports whether id matches a filter ID: empty matches all, a
// prefix matches like crictl's truncated IDs.
func MatchID(id, filter string) bool { return filter == "" || strings.HasPrefix(id, filter) }
