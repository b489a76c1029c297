package spec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxID is the largest uid/gid runc accepts (it stores them as int32).
const maxID = math.MaxInt32

// maxUserFileSize bounds how much of an image's /etc/passwd or /etc/group we
// read: the files come from untrusted images.
const maxUserFileSize = 4 << 20

// userString picks who the process runs as, in kubelet's precedence:
// RunAsUsername, then RunAsUser, then the image's USER. RunAsGroup is
// appended as ":gid". A group without a user is refused, as containerd does
// (critest "should return error if RunAsGroup is set without RunAsUser").
func userString(username string, uid, gid *runtime.Int64Value, imageUser string) (string, error) {
	user := username
	if user == "" && uid != nil {
		user = strconv.FormatInt(uid.GetValue(), 10)
	}
	if user == "" {
		if gid != nil {
			return "", fmt.Errorf("run_as_group %d is set without run_as_user or run_as_username: %w", gid.GetValue(), errdefs.ErrInvalidArgument)
		}
		return imageUser, nil
	}
	if gid != nil {
		user += ":" + strconv.FormatInt(gid.GetValue(), 10)
	}
	return user, nil
}

// resolveUser turns a USER string ("", "uid", "name", "uid:gid",
// "name:group", ...) into the process user, reading the rootfs' /etc/passwd
// and /etc/group:
//
//   - a numeric uid found in /etc/passwd takes that entry's primary gid;
//     one that is not (or no /etc/passwd) runs with gid 0;
//   - a user or group name must exist, else ErrNotFound;
//   - an explicit group replaces the primary gid.
//
// Additional gids: always the primary gid; with the Merge policy (default)
// also every /etc/group entry listing the user; plus the CRI supplemental
// groups. Sorted, without duplicates (the kernel sorts them anyway).
func resolveUser(rootfs, userstr string, policy runtime.SupplementalGroupsPolicy, supplemental []int64) (specs.User, error) {
	var u specs.User
	if policy != runtime.SupplementalGroupsPolicy_Merge && policy != runtime.SupplementalGroupsPolicy_Strict {
		return u, fmt.Errorf("unknown supplemental groups policy %d: %w", policy, errdefs.ErrInvalidArgument)
	}
	userPart, groupPart, hasGroup := strings.Cut(userstr, ":")
	if strings.Contains(groupPart, ":") {
		return u, fmt.Errorf("invalid user %q: %w", userstr, errdefs.ErrInvalidArgument)
	}
	if userPart == "" {
		if hasGroup {
			return u, fmt.Errorf("invalid user %q: group without user: %w", userstr, errdefs.ErrInvalidArgument)
		}
		userPart = "0"
	}

	files := userFiles{root: rootfs}
	var username string
	if uid, numeric, err := parseID(userPart); err != nil {
		return u, fmt.Errorf("invalid user %q: %w", userstr, err)
	} else if numeric {
		u.UID = uid
		entry, found, err := files.userByUID(uid)
		if err != nil {
			return u, err
		}
		if found {
			u.GID, username = entry.gid, entry.name
		}
	} else {
		entry, found, err := files.userByName(userPart)
		if err != nil {
			return u, err
		}
		if !found {
			return u, fmt.Errorf("user %q not found in the image's /etc/passwd: %w", userPart, errdefs.ErrNotFound)
		}
		u.UID, u.GID, username = entry.uid, entry.gid, entry.name
	}

	if hasGroup {
		gid, numeric, err := parseID(groupPart)
		if err != nil {
			return u, fmt.Errorf("invalid user %q: %w", userstr, err)
		}
		if !numeric {
			g, found, err := files.groupByName(groupPart)
			if err != nil {
				return u, err
			}
			if !found {
				return u, fmt.Errorf("group %q not found in the image's /etc/group: %w", groupPart, errdefs.ErrNotFound)
			}
			gid = g.gid
		}
		u.GID = gid
	}

	gids := []uint32{u.GID}
	if policy == runtime.SupplementalGroupsPolicy_Merge && username != "" {
		member, err := files.groupsListing(username)
		if err != nil {
			return u, err
		}
		gids = append(gids, member...)
	}
	for _, g := range supplemental {
		if g < 0 || g > maxID {
			return u, fmt.Errorf("supplemental group %d out of range: %w", g, errdefs.ErrInvalidArgument)
		}
		gids = append(gids, uint32(g))
	}
	slices.Sort(gids)
	u.AdditionalGids = slices.Compact(gids)
	return u, nil
}

// parseID reports whether s is a numeric id, and the id. A number out of
// runc's range is an error rather than a name.
func parseID(s string) (uint32, bool, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, false, fmt.Errorf("id %q out of range: %w", s, errdefs.ErrInvalidArgument)
		}
		return 0, false, nil
	}
	if n < 0 || n > maxID {
		return 0, false, fmt.Errorf("id %d out of range: %w", n, errdefs.ErrInvalidArgument)
	}
	return uint32(n), true, nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// userFiles reads /etc/passwd and /etc/group of a rootfs at most once each.
type userFiles struct {
	root         string
	passwd       []passwdEntry
	group        []groupEntry
	readP, readG bool
	errP, errG   error
}

func (f *userFiles) users() ([]passwdEntry, error) {
	if !f.readP {
		f.readP = true
		data, err := readRootfsFile(f.root, "/etc/passwd")
		f.passwd, f.errP = parsePasswd(data), err
	}
	return f.passwd, f.errP
}

func (f *userFiles) groups() ([]groupEntry, error) {
	if !f.readG {
		f.readG = true
		data, err := readRootfsFile(f.root, "/etc/group")
		f.group, f.errG = parseGroup(data), err
	}
	return f.group, f.errG
}

func (f *userFiles) userByUID(uid uint32) (passwdEntry, bool, error) {
	users, err := f.users()
	for _, u := range users {
		if u.uid == uid {
			return u, true, nil
		}
	}
	return passwdEntry{}, false, err
}

func (f *userFiles) userByName(name string) (passwdEntry, bool, error) {
	users, err := f.users()
	for _, u := range users {
		if u.name == name {
			return u, true, nil
		}
	}
	return passwdEntry{}, false, err
}

func (f *userFiles) groupByName(name string) (groupEntry, bool, error) {
	groups, err := f.groups()
	for _, g := range groups {
		if g.name == name {
			return g, true, nil
		}
	}
	return groupEntry{}, false, err
}

// groupsListing returns the gids of the groups that list user as a member.
// A group named like the user is skipped (it is the user's own group, the
// primary gid already covers it), as containerd does.
func (f *userFiles) groupsListing(user string) ([]uint32, error) {
	groups, err := f.groups()
	var gids []uint32
	for _, g := range groups {
		if g.name != user && slices.Contains(g.members, user) {
			gids = append(gids, g.gid)
		}
	}
	return gids, err
}

// readRootfsFile reads a file of the container's rootfs without ever
// following a symlink out of it (an image may ship /etc/passwd -> /etc/shadow
// of the host: it resolves to the rootfs' own /etc/shadow). Only a regular
// file of at most maxUserFileSize is read: a FIFO would block krilld forever
// and a device node would be opened on the host outside any device cgroup,
// so anything else is an invalid image (containerd refuses them too). The
// type is checked on the O_PATH handle, before anything is opened for
// reading, and O_NONBLOCK covers a swap between check and open. A missing
// file is not an error: it reads as empty.
func readRootfsFile(root, name string) ([]byte, error) {
	handle, err := pathrs.OpenInRoot(root, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s in rootfs %s: %w", name, root, err)
	}
	defer handle.Close()
	if err := checkUserFile(handle, name); err != nil {
		return nil, err
	}
	file, err := pathrs.Reopen(handle, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs %s: %w", name, root, err)
	}
	defer file.Close()
	if err := checkUserFile(file, name); err != nil {
		return nil, err
	}
	// One byte over the cap tells a file that grew since the check.
	data, err := io.ReadAll(io.LimitReader(file, maxUserFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in rootfs %s: %w", name, root, err)
	}
	if len(data) > maxUserFileSize {
		return nil, fmt.Errorf("image's %s is larger than %d bytes: %w", name, maxUserFileSize, errdefs.ErrInvalidArgument)
	}
	return data, nil
}

// checkUserFile refuses an image's user file that is not a regular file of
// a sane size.
func checkUserFile(f *os.File, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat %s in rootfs: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("image's %s is not a regular file (mode %#o): %w", name, st.Mode, errdefs.ErrInvalidArgument)
	}
	if st.Size > maxUserFileSize {
		return fmt.Errorf("image's %s is larger than %d bytes: %w", name, maxUserFileSize, errdefs.ErrInvalidArgument)
	}
	return nil
}

// parsePasswd parses name:password:uid:gid:gecos:home:shell lines, skipping
// comments and malformed lines (as libc does).
func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	for _, fields := range colonLines(data) {
		if len(fields) < 4 || fields[0] == "" {
			continue
		}
		uid, okU, errU := parseID(fields[2])
		gid, okG, errG := parseID(fields[3])
		if !okU || !okG || errU != nil || errG != nil {
			continue
		}
		out = append(out, passwdEntry{name: fields[0], uid: uid, gid: gid})
	}
	return out
}

// parseGroup parses name:password:gid:member,member lines.
func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	for _, fields := range colonLines(data) {
		if len(fields) < 3 || fields[0] == "" {
			continue
		}
		gid, ok, err := parseID(fields[2])
		if !ok || err != nil {
			continue
		}
		g := groupEntry{name: fields[0], gid: gid}
		if len(fields) > 3 && fields[3] != "" {
			for _, m := range strings.Split(fields[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					g.members = append(g.members, m)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func colonLines(data []byte) [][]string {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxUserFileSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Split(line, ":"))
	}
	return out
}
