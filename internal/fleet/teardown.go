package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gracefulStop is how long teardown lets dockerd stop its containers and
// unmount its overlays before everything left is killed.
const gracefulStop = 20 * time.Second

// teardownAll tears the named droplets down in parallel.
func teardownAll(names []string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = teardown(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// teardown removes everything of droplet name. It works from the recorded
// state alone, so any process can clean up after a dead one, and it tolerates
// a half-created droplet.
func teardown(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("tearing down droplet: bad name %q", name)
	}
	unlock, err := lockDroplet(name)
	if err != nil {
		return err
	}
	defer unlock()
	defer os.Remove(filepath.Join(StateRoot, ".locks", name))

	ctx := context.Background() // teardown must finish even when the test's context is done
	s, err := readState(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tearing down droplet %s: %w", name, err)
	}
	if err != nil {
		s = &state{Name: name, Index: -1}
	}
	var errs []error
	pins := pin(name, s.Holder)
	defer pins.release()
	netID, mntID := pins.netID, pins.mntID
	// Containers are killed outright, so dockerd need not wait out their
	// stop timeouts; then sshd, Start()ed processes and dockerd get SIGTERM
	// (dockerd unmounts its overlays and stops containerd).
	killContainers(netID, mntID)
	stopping := s.Procs
	if s.kind() == Modern {
		// The holder passes SIGTERM on to systemd-nspawn, which has the
		// droplet's systemd power off (units stopped, file systems synced).
		stopping = append(stopping, s.Holder)
	}
	for _, p := range stopping {
		p.signal(syscall.SIGTERM)
	}
	waitGone(ctx, stopping, gracefulStop)

	extra := append([]proc{s.Holder}, s.Procs...)
	if err := killNamespaces(netID, mntID, extra); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
	}
	if err := removeCgroups(name); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
	}
	if err := removeTree(filepath.Join(nspawnPropagate, name)); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
	}
	if s.Index >= 0 {
		runQuiet("ip", "link", "del", outerIf(s.Index))
	}
	if _, err := os.Stat("/run/netns/" + netnsName(name)); err == nil {
		if out, err := exec.Command("ip", "netns", "del", netnsName(name)).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("deleting netns of droplet %s: %w: %s", name, err, strings.TrimSpace(string(out))))
		}
	}
	if err := releaseDisk(name); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
	}
	for _, dir := range []string{dataDir(name), stateDir(name)} {
		if err := removeTree(dir); err != nil {
			errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
		}
	}
	if err := removeDisk(name); err != nil {
		errs = append(errs, fmt.Errorf("tearing down droplet %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// teardownNetns removes a fleet network namespace that no droplet state
// accounts for, with every process in it.
func teardownNetns(ns string) error {
	var netID string
	f, err := os.Open("/run/netns/" + ns) // pins the namespace while we kill
	if err == nil {
		netID = "net:" + inodeOf(f)
		defer f.Close()
	}
	err = killNamespaces(netID, "", nil)
	if out, derr := exec.Command("ip", "netns", "del", ns).CombinedOutput(); derr != nil {
		err = errors.Join(err, fmt.Errorf("deleting netns %s: %w: %s", ns, derr, strings.TrimSpace(string(out))))
	}
	return err
}

// killNamespaces SIGKILLs, by PID, every process in the network namespace
// netID or the mount namespace mntID, the processes in extra, and all their
// descendants (a container's processes descend from its shim, which lives in
// the droplet's namespaces), until none is left.
func killNamespaces(netID, mntID string, extra []proc) error {
	self := os.Getpid()
	for round := 0; ; round++ {
		targets := map[int]bool{}
		for _, p := range extra {
			if p.alive() {
				targets[p.PID] = true
			}
		}
		children := map[int][]int{}
		for _, pid := range allPIDs() {
			if pid == self || isZombie(pid) {
				continue
			}
			if ppid, err := procPPID(pid); err == nil {
				children[ppid] = append(children[ppid], pid)
			}
			if (netID != "" && nsID(pid, "net") == netID) || (mntID != "" && nsID(pid, "mnt") == mntID) {
				targets[pid] = true
			}
		}
		queue := make([]int, 0, len(targets))
		for pid := range targets {
			queue = append(queue, pid)
		}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			for _, c := range children[pid] {
				if !targets[c] && c != self {
					targets[c] = true
					queue = append(queue, c)
				}
			}
		}
		delete(targets, self)
		if len(targets) == 0 {
			return nil
		}
		if round >= 100 {
			var pids []string
			for pid := range targets {
				pids = append(pids, fmt.Sprint(pid))
			}
			return fmt.Errorf("processes survive SIGKILL: %s", strings.Join(pids, " "))
		}
		for pid := range targets {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killContainers SIGKILLs the processes that descend from the droplet's
// processes but live in a mount namespace of their own: its containers.
func killContainers(netID, mntID string) {
	if mntID == "" {
		return
	}
	self := os.Getpid()
	in := map[int]bool{}
	children := map[int][]int{}
	for _, pid := range allPIDs() {
		if pid == self || isZombie(pid) {
			continue
		}
		if ppid, err := procPPID(pid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
		if (netID != "" && nsID(pid, "net") == netID) || nsID(pid, "mnt") == mntID {
			in[pid] = true
		}
	}
	var queue, victims []int
	for pid := range in {
		queue = append(queue, pid)
	}
	seen := map[int]bool{}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			if seen[c] || in[c] || c == self {
				continue
			}
			seen[c] = true
			if m := nsID(c, "mnt"); m != "" && m != mntID {
				victims = append(victims, c)
			}
			queue = append(queue, c)
		}
	}
	for _, pid := range victims {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// removeTree deletes dir, refusing if anything is still mounted below it in
// the caller's mount namespace (deleting through a mount would destroy the
// mounted file system's contents).
func removeTree(dir string) error {
	if ms := mountsUnder(dir); len(ms) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", dir, strings.Join(ms, " "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists the mount points at or below dir in our mount namespace.
func mountsUnder(dir string) []string {
	var out []string
	for _, m := range ourMounts() {
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m.point)
		}
	}
	return out
}

// mountEntry is a line of /proc/self/mountinfo: mount point and source.
type mountEntry struct{ point, source string }

// ourMounts lists the mounts of our mount namespace, in mount order.
func ourMounts() []mountEntry {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		m := mountEntry{point: fs[4]}
		// Optional fields, then "-", file system type, source.
		if i := slices.Index(fs, "-"); i >= 0 && i+2 < len(fs) {
			m.source = fs[i+2]
		}
		out = append(out, m)
	}
	return out
}

func runQuiet(argv ...string) {
	exec.Command(argv[0], argv[1:]...).Run()
}

// Leftovers describes what of the fleet exists on this machine that no live
// process owns: droplets whose owner died or that were kept (nd-fleet up),
// fleet network namespaces and links, data directories, mounts and
// processes running from a droplet's state directory. Droplets of running
// test processes are not leftovers. An empty result means a clean machine.
func Leftovers() []string {
	var out []string
	live := map[string]bool{}
	names, _ := listNames()
	for _, n := range names {
		s, err := readState(n)
		if err == nil && s.Owner.PID != 0 && s.Owner.alive() {
			live[n] = true
			continue
		}
		out = append(out, "droplet state "+stateDir(n))
	}
	for _, ns := range listNetns() {
		if !live[strings.TrimPrefix(ns, NetnsPrefix)] {
			out = append(out, "network namespace "+ns)
		}
	}
	if ents, err := os.ReadDir(DataRoot); err == nil {
		for _, e := range ents {
			if n, disk := strings.CutSuffix(e.Name(), diskSuffix); disk && !live[n] {
				out = append(out, "disk image "+diskImage(n))
			} else if !disk && !live[n] {
				out = append(out, "data directory "+dataDir(n))
			}
		}
	}
	liveLinks := map[string]bool{}
	for n := range live {
		if s, err := readState(n); err == nil {
			liveLinks[outerIf(s.Index)] = true
		}
	}
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "ndf") && !liveLinks[n] {
			out = append(out, "link "+n)
		}
	}
	for _, root := range []string{StateRoot, DataRoot} {
		for _, m := range mountsUnder(root) {
			out = append(out, "mount "+m)
		}
	}
	out = append(out, cgroupLeftovers(live)...)
	for _, pid := range allPIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		// Holders name the state directory, systemd-nspawn the data one.
		for _, root := range []string{StateRoot, DataRoot} {
			i := strings.Index(cmd, root+"/")
			if i < 0 {
				continue
			}
			rest := cmd[i+len(root)+1:]
			name := rest[:len(rest)-len(strings.TrimLeft(rest, "abcdefghijklmnopqrstuvwxyz0123456789-"))]
			if !live[name] {
				out = append(out, fmt.Sprintf("process %d: %s", pid, cmd))
			}
			break
		}
	}
	return out
}

// checkGone lists what of droplet d still exists after its teardown.
func checkGone(d *Droplet, netID, mntID string, procs []proc) []string {
	var out []string
	if _, err := os.Stat("/run/netns/" + netnsName(d.Name)); err == nil {
		out = append(out, "network namespace "+netnsName(d.Name))
	}
	if linkExists(outerIf(d.index)) && !indexTaken(d.index, d.Name) {
		out = append(out, "link "+outerIf(d.index))
	}
	if _, err := os.Stat(diskImage(d.Name)); err == nil {
		out = append(out, "disk image "+diskImage(d.Name))
	}
	for _, dir := range []string{d.stateDir, dataDir(d.Name)} {
		if _, err := os.Stat(dir); err == nil {
			out = append(out, "directory "+dir)
		}
		for _, m := range mountsUnder(dir) {
			out = append(out, "mount "+m)
		}
	}
	for _, p := range procs {
		if p.alive() {
			out = append(out, fmt.Sprintf("process %d (%s)", p.PID, p.Name))
		}
	}
	for _, dir := range cgroupDirs(d.Name) {
		if _, err := os.Stat(dir); err == nil {
			out = append(out, "cgroup "+dir)
		}
	}
	if _, err := os.Stat(filepath.Join(nspawnPropagate, d.Name)); err == nil {
		out = append(out, "directory "+filepath.Join(nspawnPropagate, d.Name))
	}
	for _, pid := range allPIDs() {
		if isZombie(pid) {
			continue
		}
		if (netID != "" && nsID(pid, "net") == netID) || (mntID != "" && nsID(pid, "mnt") == mntID) {
			out = append(out, fmt.Sprintf("process %d in the droplet's namespaces", pid))
		}
	}
	return out
}

// indexTaken reports whether a droplet other than name now holds address
// block index (and so the link named after it).
func indexTaken(index int, name string) bool {
	names, _ := listNames()
	for _, n := range names {
		if s, err := readState(n); n != name && err == nil && s.Index == index {
			return true
		}
	}
	return false
}
