package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Locations and names shared by every fleet user on this machine.
const (
	// StateRoot holds one directory of small state per droplet, the global
	// allocation lock and per-droplet teardown locks.
	StateRoot = "/run/nd-fleet"
	// DataRoot holds each droplet's bulk data (its /nix, /var/lib, /tmp).
	DataRoot = "/var/lib/nd-fleet"
	// NetnsPrefix starts the name of every droplet's network namespace
	// (ip netns list | grep ^ndf- shows the fleet's namespaces).
	NetnsPrefix = "ndf-"
	// DockerSocket is the droplet's docker socket as seen inside the droplet.
	DockerSocket = "/run/docker.sock"
	// subnetBase is the private range droplets get /30s from.
	subnetBase = "10.213.0.0"
	maxIndex   = 1 << 14 // number of /30s in a /16
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// proc identifies a process by PID and kernel start time, so a recycled PID
// is never mistaken for (and never signalled as) the process we started.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Name  string `json:"name,omitempty"`
}

// state is what /run/nd-fleet/NAME/state.json records about a droplet; it is
// enough for any process to tear the droplet down.
type state struct {
	Name   string `json:"name"`
	Index  int    `json:"index"`
	Nix    bool   `json:"nix"`
	Docker bool   `json:"docker"`
	// Owner is the process whose exit makes the droplet stale; zero for
	// droplets kept until `nd-fleet down`.
	Owner  proc   `json:"owner"`
	Holder proc   `json:"holder"`
	Procs  []proc `json:"procs,omitempty"` // dockerd, sshd, Start()ed processes
	// NetNS and MntNS record the droplet's namespaces ("net:[N]") for
	// diagnostics only: the kernel reuses the IDs once a namespace is
	// freed, so teardown pins the live namespaces instead (see pin).
	NetNS string `json:"netns,omitempty"`
	MntNS string `json:"mntns,omitempty"`
	Ready bool   `json:"ready"`

	// Kind is "" for droplets recorded before kinds existed (bookworm).
	Kind            Kind      `json:"kind,omitempty"`
	ContainerdStore bool      `json:"containerd_store,omitempty"`
	NixLayout       NixLayout `json:"nix_layout,omitempty"`
	// Leader is a modern droplet's current PID 1 (systemd, seen from the
	// machine); it changes with every boot. Boots counts the boots.
	Leader proc `json:"leader,omitempty"`
	Boots  int  `json:"boots,omitempty"`
}

func (s *state) kind() Kind {
	if s.Kind == "" {
		return Bookworm
	}
	return s.Kind
}

func stateDir(name string) string { return filepath.Join(StateRoot, name) }
func dataDir(name string) string  { return filepath.Join(DataRoot, name) }
func netnsName(name string) string {
	return NetnsPrefix + name
}
func outerIf(index int) string { return fmt.Sprintf("ndf%d", index) }
func innerIf(index int) string { return fmt.Sprintf("ndf%di", index) }

// addrs returns the outer (caller side) and inner (droplet) addresses of the
// index'th /30.
func addrs(index int) (outer, inner netip.Addr) {
	b := netip.MustParseAddr(subnetBase).As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(index*4)
	ip := func(v uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	return ip(n + 1), ip(n + 2)
}

func readState(name string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(stateDir(name), "state.json"))
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding state of droplet %s: %w", name, err)
	}
	return &s, nil
}

func writeState(s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(stateDir(s.Name), "state.json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing state of droplet %s: %w", s.Name, err)
	}
	return os.Rename(tmp, p)
}

// updateState changes a droplet's recorded state under its lock.
func updateState(name string, f func(*state)) error {
	unlock, err := lockDroplet(name)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := readState(name)
	if err != nil {
		return fmt.Errorf("droplet %s is gone: %w", name, err)
	}
	f(s)
	return writeState(s)
}

// listNames returns the names of all droplets that have a state directory.
func listNames() ([]string, error) {
	ents, err := os.ReadDir(StateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing droplets: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && nameRE.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// lockFile takes an exclusive flock on path (created if needed) and returns
// the function that releases it. The lock dies with the process, so a killed
// test binary never leaves it held.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func lockGlobal() (func(), error) { return lockFile(filepath.Join(StateRoot, ".lock")) }
func lockDroplet(name string) (func(), error) {
	return lockFile(filepath.Join(StateRoot, ".locks", name))
}

// procStart returns the kernel start time (clock ticks since boot) of pid.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may contain spaces and parens.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// procPPID returns the parent PID of pid.
func procPPID(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 2 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return strconv.Atoi(f[1])
}

func procFor(pid int, name string) proc {
	st, _ := procStart(pid)
	return proc{PID: pid, Start: st, Name: name}
}

// alive reports whether p is still the process that was recorded (not a zombie).
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := procStart(p.PID)
	if err != nil || st != p.Start {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// signal sends sig to p if p is still the recorded process.
func (p proc) signal(sig syscall.Signal) {
	if p.alive() {
		syscall.Kill(p.PID, sig)
	}
}

// allPIDs lists the PIDs in /proc.
func allPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// nsID returns the identity (e.g. "mnt:[4026532]") of pid's namespace kind.
func nsID(pid int, kind string) string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	return s
}
