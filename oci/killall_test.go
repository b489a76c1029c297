package oci

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOwnsPIDNamespace(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         bool
	}{
		{"own", `{"linux":{"namespaces":[{"type":"network","path":"/proc/1/ns/net"},{"type":"pid"}]}}`, true},
		{"pod's", `{"linux":{"namespaces":[{"type":"pid","path":"/proc/42/ns/pid"}]}}`, false},
		{"host's", `{"linux":{"namespaces":[{"type":"mount"},{"type":"network"}]}}`, false},
		{"unreadable", `{`, true},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o600)
		if got := ownsPIDNamespace(dir); got != tc.want {
			t.Errorf("%s: ownsPIDNamespace = %v, want %v", tc.name, got, tc.want)
		}
	}
}
