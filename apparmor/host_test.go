package apparmor

import (
	"strings"
	"testing"
)

func TestListed(t *testing.T) {
	list := "krill-default (enforce)\n/usr/bin/man (enforce)\nlsb_release (complain)\nkrill-default-2 (enforce)\n"
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"krill-default", true},
		{"/usr/bin/man", true},
		{"lsb_release", true},
		{"krill", false},
		{"krill-default-", false},
		{"enforce", false},
		{"", false},
	} {
		got, err := listed(strings.NewReader(list), tc.name)
		if err != nil || got != tc.want {
			t.Errorf("listed(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
