package fleet

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ShapeSSH limits only SSH traffic from the caller to the droplet (packets
// to its port 22) to rate, and leaves the rest of the link fast: a slow
// home uplink to the droplet beside a binary cache in its datacenter. It
// replaces Shape's limit; the link's teardown removes it.
func (d *Droplet) ShapeSSH(ctx context.Context, rate string) error {
	dev := outerIf(d.index)
	// htb: SSH's class is capped, everything else takes the default class
	// (this kernel has no prio or clsact, see FLEET-NOTES).
	for _, argv := range [][]string{
		{"tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "20"},
		{"tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate, "ceil", rate, "burst", "256kb"},
		{"tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit"},
		{"tc", "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
			"match", "ip", "dport", "22", "0xffff", "flowid", "1:10"},
	} {
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("shaping SSH to droplet %s: %s: %w: %s", d.Name, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
