package oci

import "testing"

func TestParseFeatures(t *testing.T) {
	for _, tc := range []struct {
		name, json  string
		userns, rro bool
	}{
		// runc 1.1.5: user namespaces but no mountExtensions (no idmap).
		{"runc 1.1", `{"mountOptions":["ro","rro"],"linux":{"namespaces":["mount","user"]}}`, false, true},
		{"runc 1.3", `{"mountOptions":["rro"],"linux":{"namespaces":["user"],"mountExtensions":{"idmap":{"enabled":true}}}}`, true, true},
		{"idmap off", `{"linux":{"namespaces":["user"],"mountExtensions":{"idmap":{"enabled":false}}}}`, false, false},
		{"no user namespace", `{"linux":{"namespaces":["mount"],"mountExtensions":{"idmap":{"enabled":true}}}}`, false, false},
	} {
		f, err := parseFeatures(Features{}, []byte(tc.json))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if f.UserNamespaces != tc.userns || f.RecursiveReadOnlyMounts != tc.rro {
			t.Errorf("%s: %+v, want userns %v rro %v", tc.name, f, tc.userns, tc.rro)
		}
	}
	if _, err := parseFeatures(Features{}, []byte("not json")); err == nil {
		t.Error("garbage parsed")
	}
}
