package apparmor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	ctrdapparmor "github.com/containerd/containerd/v2/contrib/apparmor"
	hostapparmor "github.com/containerd/containerd/v2/pkg/apparmor"
)

// DefaultProfile is the profile RuntimeDefault applies.
const DefaultProfile = "krill-default"

// profilesFile lists the loaded profiles, one "name (mode)" a line.
const profilesFile = "/sys/kernel/security/apparmor/profiles"

// Host is the AppArmor of the machine krilld runs on.
type Host struct {
	// loadMu makes concurrent CreateContainer calls load the default
	// profile once rather than race apparmor_parser against itself.
	loadMu sync.Mutex
}

// Enabled reports whether containers can be confined: the kernel enforces
// AppArmor and apparmor_parser is installed (containerd's test, which also
// says no inside a container).
func (h *Host) Enabled() bool { return hostapparmor.HostSupports() }

// Loaded reports whether profile is loaded in the kernel.
func (h *Host) Loaded(profile string) (bool, error) {
	f, err := os.Open(profilesFile)
	if err != nil {
		return false, fmt.Errorf("list apparmor profiles: %w", err)
	}
	defer f.Close()
	return listed(f, profile)
}

// listed finds profile in the kernel's profile list, whose lines are
// "name (mode)"; names may contain spaces only before the mode.
func listed(r io.Reader, profile string) (bool, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		if i := strings.LastIndex(line, " ("); i >= 0 && line[:i] == profile {
			return true, nil
		}
	}
	return false, s.Err()
}

// EnsureDefault loads DefaultProfile unless it is loaded, and returns its
// name. A profile loaded earlier (by a previous krilld, or replaced by the
// administrator) is kept as it is.
func (h *Host) EnsureDefault() (string, error) {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	if err := ctrdapparmor.LoadDefaultProfile(DefaultProfile); err != nil {
		return "", fmt.Errorf("load apparmor profile %s: %w", DefaultProfile, err)
	}
	return DefaultProfile, nil
}
