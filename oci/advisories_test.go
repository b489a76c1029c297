package oci

import "testing"

func TestRuncAdvisory(t *testing.T) {
	for line, vulnerable := range map[string]bool{
		"runc version 1.1.5":        true,
		"runc version 1.0.0-rc93":   true,
		"runc version 1.2.7":        true,
		"runc version 1.2.8":        false,
		"runc version 1.3.2":        true,
		"runc version 1.3.3":        false,
		"runc version 1.3.7":        false,
		"runc version 1.4.0-rc.2":   true,
		"runc version 1.4.0-rc.3":   false,
		"runc version 1.4.0":        false,
		"runc version 1.5.0-rc.1":   false,
		"runc version 2.0.0":        false,
		"runc version 1.1.15+dfsg1": true,
	} {
		why, err := RuncAdvisory(line)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		if (why != "") != vulnerable {
			t.Errorf("%s: %q, want vulnerable=%v", line, why, vulnerable)
		}
	}
	if _, err := RuncAdvisory("crun version 1.8.1"); err == nil {
		t.Error("crun's version taken for runc's")
	}
}
