package portswitch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// hairpin turns on hairpin mode on the host-side bridge ports of the
// network namespace of pid. Each of its interfaces names its peer's ifindex
// in iflink (read through the process's root, whose /sys shows its own
// namespace); the host's interface of that index that is enslaved to a
// bridge is the port. The host side goes through iproute2 (netlink) rather
// than /sys, whose view of interfaces belongs to whoever mounted it. Without
// `ip`, or with nothing found, it does nothing: the target may not sit on a
// bridge, and only a container calling its own published port needs this.
func (s *Switch) hairpin(ctx context.Context, pid int) error {
	if s.opts.LookPath("ip") != nil {
		return nil
	}
	inner, _ := filepath.Glob(filepath.Join(s.opts.Proc, strconv.Itoa(pid), "root/sys/class/net/*/iflink"))
	peers := map[string]bool{}
	for _, f := range inner {
		if filepath.Base(filepath.Dir(f)) == "lo" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil {
			peers[strings.TrimSpace(string(b))] = true
		}
	}
	if len(peers) == 0 {
		return nil
	}
	out, err := s.opts.Run(ctx, nil, "ip", "-o", "link", "show")
	if err != nil {
		return fmt.Errorf("listing interfaces: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		// "7: veth1a2b@if6: <BROADCAST,...> mtu 1500 ... master docker0 state UP ..."
		idx, rest, ok := strings.Cut(l, ": ")
		if !ok || !peers[strings.TrimSpace(idx)] || !strings.Contains(rest, " master ") {
			continue
		}
		name, _, _ := strings.Cut(rest, ": ")
		name, _, _ = strings.Cut(name, "@")
		if _, err := s.opts.Run(ctx, nil, "ip", "link", "set", "dev", name, "type", "bridge_slave", "hairpin", "on"); err != nil {
			return fmt.Errorf("hairpin mode on %s: %w", name, err)
		}
	}
	return nil
}

func lookPath(name string) error {
	_, err := exec.LookPath(name)
	return err
}
