package dockerrt

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Lifecycle stops, starts or restarts app's container in place: same
// container, same generation. A stopped container stays stopped across
// dockerd restarts (its policy is unless-stopped) until started again.
func (r *Runtime) Lifecycle(ctx context.Context, app, action string) error {
	name := ContainerName(app)
	ci, err := r.c.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s %s: %w", action, name, ErrNoApp)
	} else if err != nil {
		return fmt.Errorf("inspecting %s: %w", name, err)
	}
	if ci.Config == nil || ci.Config.Labels[LabelManaged] != "true" {
		return fmt.Errorf("container %s: %w", name, ErrNotManaged)
	}
	switch action {
	case "stop", "restart":
		if err := r.c.ContainerStop(ctx, ci.ID, container.StopOptions{}); err != nil {
			return fmt.Errorf("stopping %s: %w", name, err)
		}
		if action == "stop" {
			return nil
		}
		fallthrough
	case "start":
		if err := r.c.ContainerStart(ctx, ci.ID, container.StartOptions{}); err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("unknown action %q for %s", action, name)
}
