package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// nsProc is the process whose namespaces are the droplet's: the holder of a
// bookworm droplet, the current PID 1 of a modern one.
func (d *Droplet) nsProc() proc {
	if d.Kind != Modern {
		return d.holder
	}
	if s, err := readState(d.Name); err == nil && s.Leader.alive() {
		return s.Leader
	}
	if p, ok := findLeader(d.holder); ok {
		return p
	}
	return proc{PID: -1} // powered off or between boots: every use fails
}

// findLeader finds the PID 1 of the container that holder runs: a
// descendant of holder whose PID in its own namespace is 1, one level of PID
// namespace below the machine's (a container of the droplet's Docker is two
// levels down).
func findLeader(holder proc) (proc, bool) {
	if !holder.alive() {
		return proc{}, false
	}
	for _, pid := range allPIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var nspid []string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				nspid = strings.Fields(v)
			}
		}
		if len(nspid) != 2 || nspid[1] != "1" || !descends(pid, holder.PID) {
			continue
		}
		p := procFor(pid, "systemd")
		if p.alive() && holder.alive() {
			return p, true
		}
	}
	return proc{}, false
}

// descends reports whether pid is a descendant of ancestor (nspawn starts the
// container's PID 1 a few levels below the holder).
func descends(pid, ancestor int) bool {
	for i := 0; i < 8 && pid > 1; i++ {
		ppid, err := procPPID(pid)
		if err != nil {
			return false
		}
		if ppid == ancestor {
			return true
		}
		pid = ppid
	}
	return false
}

// waitBoot waits until a modern droplet has booted a PID 1 other than old
// and its sshd (and dockerd, if it has one) answer; it records the new PID 1.
func waitBoot(ctx context.Context, d *Droplet, old proc) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var leader proc
	for {
		if p, ok := findLeader(d.holder); ok && p != old {
			leader = p
			break
		}
		if !d.holder.alive() {
			return fmt.Errorf("droplet %s stopped booting: %s", d.Name, d.consoleTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("droplet %s: no systemd came up: %w (%s)", d.Name, ctx.Err(), d.consoleTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := updateState(d.Name, func(st *state) { st.Leader = leader; st.Boots++ }); err != nil {
		return err
	}
	if err := waitSSH(ctx, d.Addr); err != nil {
		return fmt.Errorf("waiting for sshd of droplet %s: %w\n%s", d.Name, err, d.journalTail(ctx, "ssh.service"))
	}
	if d.HasDocker {
		if err := waitDocker(ctx, d); err != nil {
			return fmt.Errorf("waiting for dockerd of droplet %s: %w\n%s", d.Name, err, d.journalTail(ctx, "docker.service"))
		}
	}
	return nil
}

// journalTail is the end of unit's journal in the droplet, for errors (the
// droplet's data, journal included, is gone once a failed Start returns).
func (d *Droplet) journalTail(ctx context.Context, unit string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	out, err := d.Exec(ctx, "journalctl", "-b", "-u", unit, "-n", "30", "--no-pager")
	if err != nil {
		return fmt.Sprintf("journalctl -u %s: %v", unit, err)
	}
	return "journalctl -u " + unit + ":\n" + strings.TrimSpace(string(out))
}

// consoleTail is the end of the droplet's console log, for errors.
func (d *Droplet) consoleTail() string {
	b, _ := os.ReadFile(d.LogFile("console"))
	s := strings.TrimSpace(string(b))
	if len(s) > 1500 {
		s = "…" + s[len(s)-1500:]
	}
	if s == "" {
		return "console log " + d.LogFile("console") + " is empty"
	}
	return "console: " + s
}

// Systemctl runs systemctl with args inside a modern droplet and returns its
// standard output.
func (d *Droplet) Systemctl(ctx context.Context, args ...string) ([]byte, error) {
	if d.Kind != Modern {
		return nil, fmt.Errorf("droplet %s runs no systemd (kind %s)", d.Name, d.Kind)
	}
	return d.Exec(ctx, append([]string{"systemctl"}, args...)...)
}

// Boots is how many times a modern droplet has booted (1 after Start).
func (d *Droplet) Boots() int {
	s, err := readState(d.Name)
	if err != nil {
		return 0
	}
	return s.Boots
}

// Reboot reboots a modern droplet as `reboot` on a real one does: systemd
// stops every unit and powers off, and the droplet boots again on the same
// disk (its overlay, /var/lib/docker, /var/lib/containerd and /nix are kept;
// /run and /tmp start empty; processes started with Start are gone). It
// returns when the new boot answers as Start's does.
func (d *Droplet) Reboot(ctx context.Context) error {
	if d.Kind != Modern {
		return fmt.Errorf("rebooting droplet %s: kind %s has no init system to reboot", d.Name, d.Kind)
	}
	s, err := readState(d.Name)
	if err != nil {
		return fmt.Errorf("rebooting droplet %s: %w", d.Name, err)
	}
	old := s.Leader
	if !old.alive() {
		return fmt.Errorf("rebooting droplet %s: it is not running", d.Name)
	}
	// systemctl may lose its connection as the manager goes down.
	_, rerr := d.Systemctl(ctx, "reboot")
	if !waitGone(ctx, []proc{old}, readyTimeout) {
		return errors.Join(fmt.Errorf("rebooting droplet %s: its systemd (pid %d) did not stop", d.Name, old.PID), rerr)
	}
	if err := waitBoot(ctx, d, old); err != nil {
		return fmt.Errorf("rebooting droplet %s: %w", d.Name, err)
	}
	return nil
}

// bringUpModern boots the modern droplet allocated as s.
func bringUpModern(ctx context.Context, s *state, opts Options) (*Droplet, error) {
	hostKey, err := writeFiles(s, !opts.NoStreamLocalForwarding)
	if err != nil {
		return nil, fmt.Errorf("preparing droplet %s: %w", s.Name, err)
	}
	if err := setupLink(ctx, s, opts.Rate); err != nil {
		return nil, fmt.Errorf("creating network of droplet %s: %w", s.Name, err)
	}
	if err := startHolder(ctx, s); err != nil {
		return nil, fmt.Errorf("booting droplet %s: %w", s.Name, err)
	}
	d := newDroplet(s)
	d.hostKey = hostKey
	if err := waitBoot(ctx, d, proc{}); err != nil {
		return nil, err
	}
	if err := updateState(s.Name, func(st *state) { st.Ready = true }); err != nil {
		return nil, err
	}
	return d, nil
}

// cgroupLeftovers lists fleet cgroup directories of droplets not in live.
func cgroupLeftovers(live map[string]bool) []string {
	var out []string
	for _, h := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"} {
		ents, _ := os.ReadDir(filepath.Join(h, "nd-fleet"))
		for _, e := range ents {
			if e.IsDir() && !live[e.Name()] {
				out = append(out, "cgroup "+filepath.Join(h, "nd-fleet", e.Name()))
			}
		}
	}
	return out
}

// startDetached starts argv in a modern droplet as a child of the droplet's
// PID 1 (setsid -f inside, so nsenter exits at once) and returns it as seen
// from the machine. A process left as nsenter's child would hang the
// droplet's shutdown: systemd-shutdown stops every process with SIGSTOP
// before it signals them, nsenter then stops itself too, and the stopped
// nsenter, outside the droplet, never reaps its dead child, for which the
// exiting PID 1 waits forever.
func (d *Droplet) startDetached(ctx context.Context, name string, argv []string, logf *os.File) (proc, error) {
	pidFile := "/run/nd-fleet-start-" + name + ".pid"
	os.Remove(d.Path(pidFile))
	wrapped := append([]string{"setsid", "-f", "sh", "-c", `echo $$ >"$0"; exec "$@"`, pidFile}, argv...)
	cmd := d.Command(ctx, wrapped...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return proc{}, err
	}
	leader := d.nsProc()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(d.Path(pidFile))
		if inner, cerr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && cerr == nil {
			if pid := hostPID(leader, inner); pid > 0 {
				return procFor(pid, name), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return proc{}, fmt.Errorf("no pid in %s after starting it", pidFile)
}

// hostPID maps PID inner of leader's PID namespace to its PID on the machine.
func hostPID(leader proc, inner int) int {
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", leader.PID))
	if ns == "" {
		return 0
	}
	want := strconv.Itoa(inner)
	for _, pid := range allPIDs() {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); l != ns {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				if f := strings.Fields(v); len(f) >= 2 && f[len(f)-1] == want {
					return pid
				}
			}
		}
	}
	return 0
}

// ownUnits maps the names of a bookworm droplet's own processes to the
// systemd units that run them on a modern droplet, so Stop("sshd") and
// Running("dockerd") work on either kind. Stopping dockerd stops its socket
// first, or the next client would start it again.
func (d *Droplet) ownUnits(name string) []string {
	if d.Kind != Modern {
		return nil
	}
	switch name {
	case "sshd":
		return []string{"ssh.service"}
	case "dockerd":
		return []string{"docker.socket", "docker.service"}
	}
	return nil
}
