package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// Only a PID namespace made for the container owns it; anything else
// (joined, host, unreadable) counts as shared.
func TestOwnsPIDNamespace(t *testing.T) {
	cases := map[string]struct {
		spec string
		want bool
	}{
		"own":        {`{"linux":{"namespaces":[{"type":"network","path":"/x"},{"type":"pid"}]}}`, true},
		"pod's":      {`{"linux":{"namespaces":[{"type":"pid","path":"/proc/1/ns/pid"}]}}`, false},
		"host's":     {`{"linux":{"namespaces":[{"type":"mount"}]}}`, false},
		"no linux":   {`{}`, false},
		"unreadable": {`{not json`, false},
		"no bundle":  {"", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if c.spec != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.spec), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := OwnsPIDNamespace(dir); got != c.want {
				t.Errorf("OwnsPIDNamespace = %v, want %v", got, c.want)
			}
		})
	}
}
