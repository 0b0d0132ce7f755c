package supervise

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// User is who a process runs as, resolved from passwd/group files without
// cgo (the container has no libc outside the store and no NSS).
type User struct {
	Name   string // login name; the numeric uid when passwd has no entry
	UID    uint32
	GID    uint32   // primary group
	Groups []uint32 // supplementary groups, primary group included
	Home   string
}

// LookupUser resolves spec, one of "name", "uid", "name:group" or "uid:gid"
// (group by name or number), against the given passwd and group files.
//
// A numeric uid without a passwd entry is allowed, as with `docker run
// --user`: its primary group is the same number (never root's group unless
// uid is 0) and its home is "/". A name must exist. Supplementary groups are
// the groups of the group file that list the user as a member.
func LookupUser(spec, passwdFile, groupFile string) (*User, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	if name == "" || (hasGroup && group == "") {
		return nil, fmt.Errorf("user %q: want name, uid, name:group or uid:gid", spec)
	}
	pw, err := readColonFile(passwdFile, 7)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	uid, numeric := parseID(name)
	var u *User
	for _, f := range pw {
		if f[0] == name || (numeric && f[2] == name) {
			fu, ok1 := parseID(f[2])
			fg, ok2 := parseID(f[3])
			if !ok1 || !ok2 {
				continue
			}
			u = &User{Name: f[0], UID: fu, GID: fg, Home: f[5]}
			break
		}
	}
	switch {
	case u != nil:
	case numeric:
		u = &User{Name: name, UID: uid, GID: uid}
	case err != nil:
		return nil, fmt.Errorf("user %q: no %s in this container: %w", spec, passwdFile, err)
	default:
		return nil, fmt.Errorf("user %q: not in %s", spec, passwdFile)
	}
	if u.Home == "" {
		u.Home = "/"
	}

	gr, err := readColonFile(groupFile, 4)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading groups: %w", err)
	}
	if hasGroup {
		gid, ok := parseID(group)
		found := ok
		for _, f := range gr {
			if f[0] == group {
				if g, ok := parseID(f[2]); ok {
					gid, found = g, true
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("user %q: group %q not in %s", spec, group, groupFile)
		}
		u.GID = gid
	}
	u.Groups = []uint32{u.GID}
	for _, f := range gr {
		gid, ok := parseID(f[2])
		if !ok || gid == u.GID {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == u.Name && !contains(u.Groups, gid) {
				u.Groups = append(u.Groups, gid)
			}
		}
	}
	return u, nil
}

// readColonFile reads an /etc/passwd-like file: lines of at least n
// colon-separated fields; comments, blank, short and NIS ("+", "-") lines are
// skipped. Extra fields are dropped.
func readColonFile(path string, n int) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < n {
			continue
		}
		out = append(out, fields[:n])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
