package dockerrt

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/portswitch"
)

// LabelPorts lists the host ports the agent routes to a container
// ("HOSTIP:HOST:CONTAINER/PROTO,..."; HOSTIP may be empty). A container with
// it publishes no host port through Docker: the PortSwitch owns them, and
// this label is what it re-creates the rules from after a reboot.
const LabelPorts = "nd.ports"

// PortSwitch is the subset of portswitch.Switch that dockerrt uses: it
// routes an app's published host ports to one container at a time.
type PortSwitch interface {
	Set(ctx context.Context, app string, r portswitch.Route) error
	Bindings(ctx context.Context, app string) ([]portswitch.Binding, error)
	Forget(ctx context.Context, target netip.Addr) (int, error)
	CheckFree(bs []portswitch.Binding) error
}

var _ PortSwitch = (*portswitch.Switch)(nil)

func encodePorts(ps []manifest.Port) string {
	var parts []string
	for _, p := range ps {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d/%s", p.HostIP, p.Host, p.Container, proto))
	}
	return strings.Join(parts, ",")
}

func decodePorts(s string) ([]manifest.Port, error) {
	var ps []manifest.Port
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		spec, proto, _ := strings.Cut(part, "/")
		i := strings.LastIndex(spec, ":")
		j := strings.LastIndex(spec[:max(i, 0)], ":")
		if i < 0 || j < 0 {
			return nil, fmt.Errorf("label %s: bad entry %q", LabelPorts, part)
		}
		host, err1 := strconv.Atoi(spec[j+1 : i])
		ctr, err2 := strconv.Atoi(spec[i+1:])
		if err1 != nil || err2 != nil || (proto != "tcp" && proto != "udp") {
			return nil, fmt.Errorf("label %s: bad entry %q", LabelPorts, part)
		}
		ps = append(ps, manifest.Port{HostIP: spec[:j], Host: host, Container: ctr, Protocol: proto})
	}
	return ps, nil
}

// routed reports whether the agent owns the container's host ports.
func routed(ci *container.InspectResponse) bool {
	return ci != nil && ci.Config != nil && ci.Config.Labels[LabelPorts] != ""
}

// routeTo works out where the app's ports must lead for container ci: its
// address on its (first) network, that network's bridge and subnet. With v6
// it is the route for the IPv6 switch: the container's global IPv6 address
// (none: an empty route) and the ports published on every address.
func (r *Runtime) routeTo(ctx context.Context, ci *container.InspectResponse, v6 bool) (portswitch.Route, error) {
	var rt portswitch.Route
	ports, err := decodePorts(ci.Config.Labels[LabelPorts])
	if err != nil {
		return rt, err
	}
	if ci.NetworkSettings == nil {
		return rt, fmt.Errorf("container %.12s has no network settings", ci.ID)
	}
	var ep *network.EndpointSettings
	name := ""
	for n, e := range ci.NetworkSettings.Networks {
		if e != nil && e.IPAddress != "" && (ep == nil || n == "bridge") {
			ep, name = e, n
		}
	}
	if ep == nil {
		return rt, fmt.Errorf("container %.12s has no IPv4 address (network mode %q)", ci.ID, ci.HostConfig.NetworkMode)
	}
	ip, plen := ep.IPAddress, ep.IPPrefixLen
	if v6 {
		if ep.GlobalIPv6Address == "" {
			return portswitch.Route{}, nil
		}
		ip, plen = ep.GlobalIPv6Address, ep.GlobalIPv6PrefixLen
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return rt, fmt.Errorf("container %.12s address %q: %w", ci.ID, ip, err)
	}
	rt.Subnet = netip.PrefixFrom(addr, plen).Masked()
	if ci.State != nil {
		rt.PID = ci.State.Pid
	}
	rt.Bridge = "docker0"
	if nw, err := r.c.NetworkInspect(ctx, ep.NetworkID, network.InspectOptions{}); err != nil {
		return rt, fmt.Errorf("inspecting network %s: %w", name, err)
	} else if b := nw.Options["com.docker.network.bridge.name"]; b != "" {
		rt.Bridge = b
	} else if name != "bridge" {
		rt.Bridge = "br-" + nw.ID[:12] // Docker's name for a user-defined bridge
	}
	for _, p := range ports {
		if v6 && p.HostIP != "" {
			continue // a host address of the other family
		}
		rt.Bindings = append(rt.Bindings, portswitch.Binding{
			Protocol: p.Protocol, HostIP: p.HostIP, HostPort: p.Host, Target: addr, TargetPort: p.Container,
		})
	}
	return rt, nil
}

// forgetUDP drops the UDP flows still pinned to a stopped container ci (as
// inspected while it ran), so its clients' next datagrams meet the current
// rules. Best effort: a failure only logs.
func (r *Runtime) forgetUDP(ctx context.Context, ci *container.InspectResponse) {
	if r.ports == nil || !routed(ci) || !strings.Contains(ci.Config.Labels[LabelPorts], "/udp") || ci.NetworkSettings == nil {
		return
	}
	for _, ep := range ci.NetworkSettings.Networks {
		if ep == nil {
			continue
		}
		for _, ip := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				continue
			}
			// Forget reads conntrack of both families.
			if n, err := r.ports.Forget(ctx, a); err != nil {
				r.log.Warn("dropping UDP flows of the old container", "container", ci.ID[:12], "error", err)
			} else if n > 0 {
				r.log.Debug("dropped UDP flows of the old container", "container", ci.ID[:12], "flows", n)
			}
		}
	}
}

// checkPorts refuses, before anything changes, host ports a program on the
// host holds, except those the app holds itself: routed ports have no
// socket, and a container deployed before the PortSwitch holds its own
// through Docker's proxy until it stops.
func (r *Runtime) checkPorts(app string, ports []manifest.Port, cur *container.InspectResponse) error {
	if r.ports == nil || len(ports) == 0 {
		return nil
	}
	own := map[string]bool{}
	if cur != nil && !routed(cur) && cur.HostConfig != nil {
		for p, bs := range cur.HostConfig.PortBindings {
			for _, b := range bs {
				own[b.HostPort+"/"+p.Proto()] = true
			}
		}
	}
	var bs []portswitch.Binding
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if !own[strconv.Itoa(p.Host)+"/"+proto] {
			bs = append(bs, portswitch.Binding{Protocol: proto, HostIP: p.HostIP, HostPort: p.Host})
		}
	}
	if err := r.ports.CheckFree(bs); err != nil {
		return fmt.Errorf("deploying %s: %w", app, err)
	}
	if r.ports6 != nil {
		var bs6 []portswitch.Binding
		for _, b := range bs {
			// (The app's own relay holds [::]:PORT.)
			if b.HostIP == "" && (r.relay6 == nil || b.Protocol != "tcp" || !r.relay6.Holds(app, b.HostPort)) {
				bs6 = append(bs6, b)
			}
		}
		if err := r.ports6.CheckFree(bs6); err != nil {
			return fmt.Errorf("deploying %s: %w", app, err)
		}
	}
	return nil
}

// clearPorts removes the app's port rules.
func (r *Runtime) clearPorts(ctx context.Context, app string) error {
	if r.ports == nil {
		return nil
	}
	if r.relay6 != nil {
		r.relay6.Set(app, nil)
	}
	if r.ports6 != nil {
		if err := r.ports6.Set(ctx, app, portswitch.Route{}); err != nil {
			return err
		}
	}
	return r.ports.Set(ctx, app, portswitch.Route{})
}

// KeepPorts ends the drains an earlier agent process left unfinished and
// keeps every app's host ports leading to its live container
// until ctx ends: once at the start (after a reboot or an agent restart the
// rules may be gone) and again whenever a live container starts (a dockerd
// restart or reboot restarts containers, maybe on other addresses). It
// follows dockerd across its restarts. Without a PortSwitch it returns
// after the drains.
func (r *Runtime) KeepPorts(ctx context.Context) {
	// The drains an earlier agent left end with the first sweep dockerd
	// answers; until then a sweep is tried again every second.
	drainsEnded := false
	sweep := func() {
		if r.syncAllPorts(ctx, !drainsEnded) {
			drainsEnded = true
		}
	}
	retry := func() <-chan time.Time {
		if drainsEnded {
			return nil
		}
		return time.After(time.Second)
	}
	if r.ports == nil {
		// Apps without ports overlap too: their drains an earlier agent
		// process left still end here.
		for sweep(); !drainsEnded; sweep() {
			select {
			case <-ctx.Done():
				return
			case <-retry():
			}
		}
		return
	}
	for ctx.Err() == nil {
		msgs, errs := r.c.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("event", string(events.ActionStart)),
			filters.Arg("label", LabelManaged+"=true"),
		)})
		// Subscribed first, then the sweep: a start between the two is
		// seen by one of them.
		sweep()
	loop:
		for {
			select {
			case <-ctx.Done():
				return
			case <-retry():
				sweep()
			case m := <-msgs:
				app := m.Actor.Attributes[LabelApp]
				if m.Actor.Attributes["name"] == ContainerName(app) {
					r.syncPorts(ctx, app)
				}
			case err := <-errs:
				r.log.Debug("following docker events", "error", err)
				break loop
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// syncAllPorts routes every app with a running live container. At the
// agent's start (finishDrains) it also ends drains an earlier agent process
// left unfinished: no deploy of this process can be draining yet. It
// reports whether dockerd listed the containers.
func (r *Runtime) syncAllPorts(ctx context.Context, finishDrains bool) bool {
	cs, err := r.c.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		r.log.Info("listing containers for port routes and unfinished drains; trying again", "error", err)
		return false
	}
	// The drains first, as drain jobs (two inspects each; the stop, which
	// takes its grace period, runs in the background): once the sweep
	// shows the app routed, an rm or deploy of it waits for its drain.
	for _, c := range cs {
		if app := c.Labels[LabelApp]; finishDrains && containsName(c.Names, prevName(app)) {
			r.finishDrain(ctx, app, c.ID)
		}
	}
	for _, c := range cs {
		if app := c.Labels[LabelApp]; containsName(c.Names, ContainerName(app)) {
			r.syncPorts(ctx, app)
		}
	}
	return true
}

// finishDrain stops and removes a draining container whose app's live
// container runs (the switch happened; the agent that drained it died).
func (r *Runtime) finishDrain(ctx context.Context, app, id string) {
	live, err := r.c.ContainerInspect(ctx, ContainerName(app))
	if err != nil || live.State == nil || !live.State.Running || live.Config == nil || live.Config.Labels[LabelManaged] != "true" {
		// An interrupted deploy before the switch: the next deploy's
		// tidy decides.
		r.log.Info("leaving a replaced container to the next deploy: no live container runs", "app", app, "container", id[:12], "error", err)
		return
	}
	old, err := r.c.ContainerInspect(ctx, id)
	if err != nil {
		return
	}
	r.log.Info("finishing the drain of a replaced container", "app", app, "container", id[:12])
	// As a drain job: a deploy or rm of the app that comes meanwhile waits
	// for it (endDrain) instead of racing its removal.
	r.startDrain(app, &old, 0)
}

// syncPorts routes the app's ports to its live container if that runs and
// they lead elsewhere.
func (r *Runtime) syncPorts(ctx context.Context, app string) {
	ci, err := r.c.ContainerInspect(ctx, ContainerName(app))
	if err != nil {
		if !cerrdefs.IsNotFound(err) {
			r.log.Warn("inspecting live container", "app", app, "error", err)
		}
		return
	}
	if !routed(&ci) || ci.State == nil || !ci.State.Running {
		return
	}
	if err := r.routeLive(ctx, app, ci.ID); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("routing ports to live container", "app", app, "error", err)
		return
	}
	r.log.Debug("ports routed", "app", app, "container", ci.ID[:12])
}
