package dockerrt

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/nd-project/nd/internal/manifest"
)

// checkPortsFree refuses, before anything changes, a deploy of app whose
// published ports a running container of another nd app holds: Docker would
// only say "port is already allocated" once the app's old container was
// stopped, which reads as if anything could hold it.
func (r *Runtime) checkPortsFree(ctx context.Context, app string, ports []manifest.Port) error {
	if len(ports) == 0 {
		return nil
	}
	cs, err := r.c.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	for _, c := range cs {
		other := c.Labels[LabelApp]
		if other == app {
			continue
		}
		ci, err := r.c.ContainerInspect(ctx, c.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("inspecting container %s: %w", c.ID, err)
		}
		if ci.HostConfig == nil || ci.State == nil || !(ci.State.Running || ci.State.Restarting) {
			continue
		}
		// Routed by the agent (nd.ports), or published by Docker.
		var routedPorts []manifest.Port
		if routed(&ci) {
			routedPorts, _ = decodePorts(ci.Config.Labels[LabelPorts])
		}
		for _, p := range ports {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			for _, rp := range routedPorts {
				if rp.Protocol == proto && rp.Host == p.Host && ipsOverlap(rp.HostIP, p.HostIP) {
					return fmt.Errorf("port %d is held by app %s (container %s); free it there first", p.Host, other, strings.TrimPrefix(ci.Name, "/"))
				}
			}
			for cp, bs := range ci.HostConfig.PortBindings {
				if cp.Proto() != proto {
					continue
				}
				for _, b := range bs {
					if b.HostPort != strconv.Itoa(p.Host) || !ipsOverlap(b.HostIP, p.HostIP) {
						continue
					}
					return fmt.Errorf("port %d is held by app %s (container %s); free it there first", p.Host, other, strings.TrimPrefix(ci.Name, "/"))
				}
			}
		}
	}
	return nil
}

// ipsOverlap reports whether two bindings' host IPs can clash: the same
// address, or either on every address.
func ipsOverlap(a, b string) bool {
	all := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	return a == b || all(a) || all(b)
}
