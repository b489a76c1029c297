package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Host cgroup layouts, as returned by Manager.Mode.
const (
	ModeV1     = "v1"     // one hierarchy per v1 controller under root/<ctrl>
	ModeHybrid = "hybrid" // v1 controllers plus a cgroup2 mount at root/unified
	ModeV2     = "v2"     // a single cgroup2 hierarchy at root
)

// Manager reads and removes cgroups under one cgroup root ("/sys/fs/cgroup"
// or a fake tree in tests). It keeps no per-container state and is safe for
// concurrent use.
type Manager struct {
	root string
	mode string
	// driver is DriverCgroupfs or DriverSystemd: the form of the cgroup
	// paths ContainerPath makes and ValidateParent accepts. Reading and
	// removing take paths of either form.
	driver string
	// hierarchies are the directories a container cgroup appears in: every
	// v1 hierarchy (including name=systemd) and, in hybrid mode, the
	// unified one; on v2 only root.
	hierarchies []string
	// v2root is the cgroup2 mount: root on v2, root/unified on hybrid.
	v2root string
	// realFS is false for fake trees, whose directories hold ordinary files
	// and must be emptied before rmdir.
	realFS bool
	swap   bool // swap accounting: memsw (v1) or memory.swap.max (v2)
	// hugetlb: the hierarchy runc writes hugepage limits to exists.
	hugetlb bool
}

// New detects the layout under root:
//   - v2 when root/cgroup.controllers exists;
//   - hybrid when root/unified/cgroup.controllers exists (this host: v1
//     controllers, plus cgroup2 at root/unified with only hugetlb);
//   - v1 when root holds at least a memory hierarchy.
func New(root string) (*Manager, error) {
	m := &Manager{root: filepath.Clean(root), driver: DriverCgroupfs}
	switch {
	case exists(filepath.Join(m.root, "cgroup.controllers")):
		m.mode = ModeV2
		m.v2root = m.root
		m.hierarchies = []string{m.root}
	case exists(filepath.Join(m.root, "unified", "cgroup.controllers")):
		m.mode = ModeHybrid
		m.v2root = filepath.Join(m.root, "unified")
	case exists(filepath.Join(m.root, "memory")):
		m.mode = ModeV1
	default:
		return nil, fmt.Errorf("no cgroup v1 memory hierarchy nor cgroup2 mount under %s: %w", root, errdefs.ErrNotFound)
	}

	if m.mode != ModeV2 {
		h, err := v1Hierarchies(m.root)
		if err != nil {
			return nil, err
		}
		m.hierarchies = h
		if m.mode == ModeHybrid {
			m.hierarchies = append(m.hierarchies, m.v2root)
		}
		m.swap = exists(filepath.Join(m.root, "memory", "memory.memsw.limit_in_bytes"))
		// runc 1.1.5 in v1/hybrid mode writes hugepage limits through the
		// v1 hugetlb controller only, whatever the unified mount offers.
		m.hugetlb = exists(filepath.Join(m.root, "hugetlb"))
	} else {
		ctrls, err := os.ReadFile(filepath.Join(m.root, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("read cgroup controllers: %w", err)
		}
		m.hugetlb = slices.Contains(strings.Fields(string(ctrls)), "hugetlb")
		m.swap = v2SwapAccounting(m.root)
	}

	var st unix.Statfs_t
	if err := unix.Statfs(m.hierarchies[0], &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", m.hierarchies[0], err)
	}
	m.realFS = st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
	return m, nil
}

// v1Hierarchies lists the v1 hierarchy directories under root, once each:
// co-mounted controllers appear as symlinks (cpu -> cpu,cpuacct).
func v1Hierarchies(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var dirs []string
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name() == "unified" {
			continue
		}
		dir := filepath.Join(root, e.Name())
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.IsDir() || seen[real] {
			continue
		}
		seen[real] = true
		dirs = append(dirs, real)
	}
	return dirs, nil
}

// v2SwapAccounting reports whether the kernel accounts swap. The root cgroup
// has no memory.swap.max, so look at its children (there always are some on
// a running v2 host).
func v2SwapAccounting(root string) bool {
	entries, err := os.ReadDir(root)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() && exists(filepath.Join(root, e.Name(), "memory.swap.max")) {
			return true
		}
	}
	return false
}

// Mode returns ModeV1, ModeHybrid or ModeV2.
func (m *Manager) Mode() string { return m.mode }

// SetDriver selects the cgroup driver (DriverCgroupfs or DriverSystemd, as
// returned by ChooseDriver) before the manager is shared; New starts
// with cgroupfs.
func (m *Manager) SetDriver(driver string) error {
	if driver != DriverCgroupfs && driver != DriverSystemd {
		return fmt.Errorf("cgroup driver %q: %w", driver, errdefs.ErrInvalidArgument)
	}
	m.driver = driver
	return nil
}

// Driver returns DriverCgroupfs or DriverSystemd.
func (m *Manager) Driver() string { return m.driver }

// ContainerPath is the OCI cgroupsPath of container id in a pod with cgroup
// parent parent, in this manager's driver's form (see ContainerPath).
func (m *Manager) ContainerPath(parent, id string) string {
	return ContainerPath(m.driver, parent, id)
}

// ValidateParent checks a pod's cgroup parent against this manager's driver
// (see ValidateParent).
func (m *Manager) ValidateParent(parent string) error { return ValidateParent(m.driver, parent) }

// UnifiedControllers lists the controllers of the cgroup2 mount in hybrid
// mode (nil otherwise). crun refuses every container when this is not
// empty ("cgroups in hybrid mode not supported, drop all controllers from
// cgroupv2"); runc does not mind.
func (m *Manager) UnifiedControllers() []string {
	if m.mode != ModeHybrid {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(m.v2root, "cgroup.controllers"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// Root returns the cgroup root the manager was made for.
func (m *Manager) Root() string { return m.root }

// DropUnsupported removes from res what runc cannot apply on this host, and
// names what it dropped (for a log line). Like containerd with
// tolerate_missing_hugetlb_controller (its default), it skips rather than
// fails:
//   - the swap limit without swap accounting (runc fails on the missing file);
//   - hugepage limits without the hugetlb hierarchy runc writes to. kubelet
//     sends a limit (often 0) for every page size the node has, so without
//     this every container fails on a host like this one, whose hugetlb
//     controller lives only in the unified hierarchy;
//   - unified (v2) entries when the host is not pure v2.
func (m *Manager) DropUnsupported(res *specs.LinuxResources) []string {
	if res == nil {
		return nil
	}
	var dropped []string
	if res.Memory != nil && res.Memory.Swap != nil && !m.swap {
		res.Memory.Swap = nil
		dropped = append(dropped, "memory swap limit (no swap accounting)")
	}
	if len(res.HugepageLimits) > 0 && !m.hugetlb {
		res.HugepageLimits = nil
		dropped = append(dropped, "hugepage limits (no hugetlb controller)")
	}
	if len(res.Unified) > 0 && m.mode != ModeV2 {
		res.Unified = nil
		dropped = append(dropped, "unified cgroup v2 settings (host is "+m.mode+")")
	}
	return dropped
}

// Remove deletes cgroup path in every hierarchy, children first. It is
// idempotent. rmdir fails with EBUSY while the cgroup still holds tasks;
// right after a container's init dies its processes may still be exiting,
// so EBUSY is retried for up to about two seconds before Remove gives up with
// an error wrapping errdefs.ErrFailedPrecondition. Every hierarchy is tried
// even when one fails.
func (m *Manager) Remove(path string) error {
	rel, err := cleanPath(path)
	if err != nil {
		return err
	}
	// One deadline for all hierarchies: a busy cgroup is busy in each.
	deadline := time.Now().Add(2 * time.Second)
	var errs []error
	for _, h := range m.hierarchies {
		if err := m.removeTree(filepath.Join(h, rel), deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeTree removes dir and the cgroups below it, deepest first: a v1 or v2
// cgroup with child cgroups cannot be removed.
func (m *Manager) removeTree(dir string, deadline time.Time) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if err := m.removeTree(p, deadline); err != nil {
				return err
			}
		case !m.realFS:
			// A fake tree: control files are ordinary files here.
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove cgroup %s: %w", dir, err)
			}
		}
	}
	return rmdirRetry(dir, deadline)
}

func rmdirRetry(dir string, deadline time.Time) error {
	delay := 10 * time.Millisecond
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: still has processes (%w): %w", dir, err, errdefs.ErrFailedPrecondition)
		}
		time.Sleep(delay)
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// v1Dir is path's directory in v1 hierarchy ctrl.
func (m *Manager) v1Dir(ctrl, rel string) string { return filepath.Join(m.root, ctrl, rel) }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
