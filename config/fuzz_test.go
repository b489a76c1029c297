package config

import (
	"testing"
)

// FuzzParse: any file either loads, or fails with an error; it never
// panics, and a config that loads and validates survives a second
// validation unchanged (Validate does not depend on state it changes).
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Defaults()
		if err := Parse(data, c); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		if _, err := c.SocketPath(); err != nil {
			t.Fatalf("a validated config has no socket path: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("second validation failed: %v", err)
		}
	})
}
