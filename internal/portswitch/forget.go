package portswitch

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// Forget deletes the conntrack entries of UDP flows that were DNATed to
// target, and returns how many. Call it once the container at target has
// stopped: a UDP client that keeps sending from one port (a syslog or statsd
// sender, a resolver's socket) refreshes its entry with every datagram and
// would stay on the dead address for as long as it sends; without the entry
// its next datagram meets the current rules. TCP needs nothing: its
// connections end with their container.
//
// It works on the netns of the calling thread (the agent's: the host's).
// ti-mo/conntrack speaks ctnetlink in Go, so hosts need no conntrack tool.
func (s *Switch) Forget(ctx context.Context, target netip.Addr) (int, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return 0, fmt.Errorf("opening conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("listing conntrack entries: %w", err)
	}
	n := 0
	for _, f := range flows {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if f.TupleOrig.Proto.Protocol != unix.IPPROTO_UDP || f.TupleReply.IP.SourceAddress != target ||
			f.TupleOrig.IP.DestinationAddress == target {
			continue // not UDP, or not a flow DNATed to target
		}
		if err := c.Delete(f); err != nil {
			return n, fmt.Errorf("deleting conntrack entry %v: %w", f.TupleOrig, err)
		}
		n++
	}
	return n, nil
}
