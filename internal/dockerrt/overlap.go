package dockerrt

import (
	"context"
	"fmt"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/portswitch"
)

// DefaultDrainTime is how long an overlap deploy leaves the old container
// its established connections when neither the spec nor the manifest says.
const DefaultDrainTime = 2 * time.Second

// strategy decides how spec replaces the running container.
func (r *Runtime) strategy(spec deployspec.Spec) string {
	m := spec.Manifest
	if m.DeployStrategy == manifest.StrategyRecreate {
		return manifest.StrategyRecreate
	}
	if r.ports == nil && len(m.Ports) > 0 {
		// Docker gives a host port to one container at a time.
		return manifest.StrategyRecreate
	}
	return manifest.StrategyOverlap
}

func drainTime(spec deployspec.Spec) time.Duration {
	switch {
	case spec.DrainTime > 0:
		return spec.DrainTime
	case spec.Manifest.DrainTime > 0:
		return time.Duration(spec.Manifest.DrainTime) * time.Second
	}
	return DefaultDrainTime
}

// overlap runs the created container res.ContainerID beside cur (nil if the
// app has none), which serves every request until the new one is ready:
// started, awaited, given its restart policy. Then the names swap (the old
// becomes nd.prev-<app>, the new nd-<app>), the host ports switch to the new
// one in one step (new connections only; established ones stay), and the old
// one drains for the drain time in the background (see startDrain) before
// the usual stop: the deploy returns at the switch. A new container that
// fails is removed and the old one never noticed.
func (r *Runtime) overlap(ctx context.Context, spec deployspec.Spec, hc *container.HostConfig, cur *container.InspectResponse, res DeployResult) (DeployResult, error) {
	app, newID := spec.App, res.ContainerID
	log := r.log.With("app", app)
	if cur != nil {
		res.Previous, res.PreviousPackage = cur.ID, cur.Config.Labels[LabelPackage]
	}
	log.Info("starting new container beside the old one", "container", newID[:12], "package", spec.Package, "old", res.Previous)
	if cur != nil && cur.State.Running {
		spec.Progressf("container", "starting container %.12s beside %.12s, which keeps serving", newID, cur.ID)
	} else {
		spec.Progressf("container", "starting container %.12s", newID)
	}
	if err := r.c.ContainerStart(ctx, newID, container.StartOptions{}); err != nil {
		return res, r.discard(ctx, spec, newID, cur, fmt.Errorf("starting container: %w", err))
	}
	if err := r.waitReady(ctx, newID, spec, true); err != nil {
		spec.Progressf("rollback", "new container failed (%v); removing it", err)
		return res, r.discard(ctx, spec, newID, cur, err)
	}
	if _, err := r.c.ContainerUpdate(ctx, newID, container.UpdateConfig{RestartPolicy: hc.RestartPolicy}); err != nil {
		return res, r.discard(ctx, spec, newID, cur, fmt.Errorf("setting restart policy: %w", err))
	}
	// Names before routes: routes follow the name nd-<app>, so an
	// interruption anywhere here is repaired by routing to whatever holds
	// the name (tidy keeps nd-<app> and drops nd.prev-<app>).
	if cur != nil {
		if err := r.c.ContainerRename(ctx, cur.ID, prevName(app)); err != nil {
			return res, r.discard(ctx, spec, newID, cur, fmt.Errorf("renaming old container: %w", err))
		}
	}
	if err := r.c.ContainerRename(ctx, newID, ContainerName(app)); err != nil {
		return res, r.unswitch(ctx, spec, newID, cur, fmt.Errorf("renaming new container: %w", err))
	}
	if err := r.routeLive(ctx, app, newID); err != nil {
		return res, r.unswitch(ctx, spec, newID, cur, err)
	}
	log.Info("deployed", "container", newID[:12], "package", spec.Package)
	if cur == nil {
		spec.Progressf("container", "%s runs container %.12s", app, newID)
		return res, nil
	}
	res.Drained = cur.ID
	d := drainTime(spec)
	spec.Progressf("container", "%s runs container %.12s; the old one %.12s drains for %s", app, newID, cur.ID, d)
	// The deploy is done: the new container serves every new connection.
	// The reply need not wait for the old one's established ones.
	r.startDrain(app, cur, d)
	return res, nil
}

// discard removes a new container that failed beside cur, which kept
// serving; the *DeployError says so.
func (r *Runtime) discard(ctx context.Context, spec deployspec.Spec, newID string, cur *container.InspectResponse, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	de := &DeployError{App: spec.App, Package: spec.Package, Cause: cause, Overlapped: true}
	if cur != nil {
		de.Previous = cur.ID
		de.RolledBack = cur.State.Running
	}
	de.Logs = r.tailLogs(ctx, newID, 20)
	r.log.Warn("deploy failed, removing the new container", "app", spec.App, "error", cause)
	if err := r.c.ContainerRemove(ctx, newID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		de.RollbackErr = fmt.Errorf("removing failed container: %w", err)
	}
	return de
}

// unswitch undoes a half-done switch: the new container loses the name,
// the old one gets it back and the routes, then the new one is discarded.
func (r *Runtime) unswitch(ctx context.Context, spec deployspec.Spec, newID string, cur *container.InspectResponse, cause error) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var undo error
	if err := r.c.ContainerRename(uctx, newID, newName(spec.App)); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Debug("renaming new container back", "error", err) // it may never have had the name
	}
	if cur != nil {
		if err := r.c.ContainerRename(uctx, cur.ID, ContainerName(spec.App)); err != nil {
			undo = fmt.Errorf("renaming previous container back: %w", err)
		} else if err := r.routeLive(uctx, spec.App, cur.ID); err != nil {
			undo = err
		}
	} else if err := r.clearPorts(uctx, spec.App); err != nil {
		undo = err
	}
	err := r.discard(ctx, spec, newID, cur, cause)
	if de, ok := err.(*DeployError); ok && undo != nil {
		de.RolledBack, de.RollbackErr = false, undo
	}
	return err
}

// routeLive makes the app's host ports lead to container id, the one named
// nd-<app>: to it if it has nd.ports, nowhere if it publishes no port (or
// publishes through Docker, as containers deployed before the PortSwitch).
func (r *Runtime) routeLive(ctx context.Context, app, id string) error {
	if r.ports == nil {
		return nil
	}
	ci, err := r.c.ContainerInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspecting container %.12s: %w", id, err)
	}
	if !routed(&ci) {
		return r.clearPorts(ctx, app)
	}
	rt, err := r.routeTo(ctx, &ci, false)
	if err != nil {
		return fmt.Errorf("routing ports of %s: %w", app, err)
	}
	var rt6 portswitch.Route
	if r.ports6 != nil {
		if rt6, err = r.routeTo(ctx, &ci, true); err != nil {
			return fmt.Errorf("routing IPv6 ports of %s: %w", app, err)
		}
		// IPv6 first: the IPv4 rules are the ones every client has.
		if err := r.ports6.Set(ctx, app, rt6); err != nil {
			return err
		}
	}
	if err := r.ports.Set(ctx, app, rt); err != nil {
		return err
	}
	if r.relay6 != nil {
		r.relay6.Set(app, relayed(rt, rt6))
	}
	return nil
}

// relayed returns the host ports of rt that IPv6 clients reach only through
// the relay: TCP, published on every address, with no IPv6 rule in rt6.
func relayed(rt, rt6 portswitch.Route) []int {
	var ps []int
	for _, b := range rt.Bindings {
		if b.Protocol != "tcp" || b.HostIP != "" || slices.ContainsFunc(rt6.Bindings, func(b6 portswitch.Binding) bool {
			return b6.Protocol == "tcp" && b6.HostPort == b.HostPort
		}) {
			continue
		}
		ps = append(ps, b.HostPort)
	}
	return ps
}
