package cri

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyTranslates: the CRI layer links in none of the packages that do
// the work or hold the records (docs/design.md, "Packages"); it reaches
// them only through the interfaces of deps.go.
func TestOnlyTranslates(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch strings.TrimPrefix(dep, "github.com/krill-runtime/krill/") {
		case "cgroups", "store", "sandbox", "container":
			t.Errorf("cri depends on %s", dep)
		}
	}
}
