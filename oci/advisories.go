package oci

import (
	"fmt"
	"regexp"
	"strconv"
)

// runcFixes are the first runc releases of each line with the fixes for
// the November 2025 advisories CVE-2025-31133, CVE-2025-52565 and
// CVE-2025-52881 (container escapes through /dev/null, /dev/console and
// /proc write redirection): 1.2.8, 1.3.3 and 1.4.0-rc.3.
var runcFixes = map[[2]int]release{
	{1, 2}: {1, 2, 8, 0},
	{1, 3}: {1, 3, 3, 0},
	{1, 4}: {1, 4, 0, 3},
}

// release is major, minor, patch and rc (0 = a final release).
type release [4]int

func (a release) less(b release) bool {
	for i := 0; i < 3; i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	// A final release (rc 0) comes after every rc of it.
	ra, rb := a[3], b[3]
	if ra == 0 {
		ra = 1 << 30
	}
	if rb == 0 {
		rb = 1 << 30
	}
	return ra < rb
}

var runcVersion = regexp.MustCompile(`runc version (\d+)\.(\d+)\.(\d+)(?:-rc\.?(\d+))?`)

// RuncAdvisory tells whether the runc whose `--version` line is given
// predates the fixes for the 2025 advisories; it says why, or "" when it
// has them. Distributions may backport fixes without changing the version,
// so this is a warning, not a refusal.
func RuncAdvisory(versionLine string) (string, error) {
	m := runcVersion.FindStringSubmatch(versionLine)
	if m == nil {
		return "", fmt.Errorf("not a runc version: %q", versionLine)
	}
	var v release
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	fixed, ok := runcFixes[[2]int{v[0], v[1]}]
	switch {
	case ok && v.less(fixed):
	case !ok && v.less(runcFixes[[2]int{1, 2}]):
		fixed = runcFixes[[2]int{1, 2}]
	default:
		return "", nil
	}
	return fmt.Sprintf("runc %d.%d.%d predates the fixes for CVE-2025-31133, CVE-2025-52565 and CVE-2025-52881 "+
		"(fixed in 1.2.8, 1.3.3 and 1.4.0-rc.3: upgrade to at least %d.%d.%d%s) unless your distribution backported them",
		v[0], v[1], v[2], fixed[0], fixed[1], fixed[2], rcSuffix(fixed[3])), nil
}

func rcSuffix(rc int) string {
	if rc == 0 {
		return ""
	}
	return fmt.Sprintf("-rc.%d", rc)
}
