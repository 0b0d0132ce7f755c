package dockerrt

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/nd-project/nd/internal/manifest"
)

// What belongs to an app is decided by labels, never by a name alone: an
// earlier agent named temporaries "nd-X.new", which is also the container
// of app "X.new" (see internal/manifest/names.go).

// ContainerName is the container of an app.
func ContainerName(app string) string { return manifest.ContainerName(app) }

func newName(app string) string  { return manifest.TempContainerName(app, manifest.RoleNew) }
func prevName(app string) string { return manifest.TempContainerName(app, manifest.RolePrev) }

// ownedBy reports whether labels say the object is nd's and app's.
func ownedBy(labels map[string]string, app string) bool {
	return labels[LabelManaged] == "true" && labels[LabelApp] == app
}

// appContainer returns the container named ContainerName(app), or nil if
// there is none; one that is not nd's container of app is an error.
func (r *Runtime) appContainer(ctx context.Context, app string) (*container.InspectResponse, error) {
	name := ContainerName(app)
	ci, err := r.c.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("inspecting container %s: %w", name, err)
	}
	if ci.Config == nil || !ownedBy(ci.Config.Labels, app) {
		return nil, fmt.Errorf("container %s: %w as app %s; remove or rename it", name, ErrNotManaged, app)
	}
	return &ci, nil
}

// tempContainers returns app's temporary containers by role (RoleNew,
// RolePrev): those labelled as app's that hold a temporary name of app, the
// current or the legacy one.
func (r *Runtime) tempContainers(ctx context.Context, app string) (map[string][]*container.InspectResponse, error) {
	cs, err := r.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"), filters.Arg("label", LabelApp+"="+app))})
	if err != nil {
		return nil, fmt.Errorf("listing containers of %s: %w", app, err)
	}
	out := map[string][]*container.InspectResponse{}
	for _, c := range cs {
		for _, role := range []string{manifest.RoleNew, manifest.RolePrev} {
			if !containsName(c.Names, manifest.TempContainerName(app, role)) && !containsName(c.Names, manifest.LegacyTempContainerName(app, role)) {
				continue
			}
			ci, err := r.c.ContainerInspect(ctx, c.ID)
			if cerrdefs.IsNotFound(err) {
				continue // removed meanwhile
			} else if err != nil {
				return nil, fmt.Errorf("inspecting container %s: %w", c.ID, err)
			}
			if ci.Config != nil && ownedBy(ci.Config.Labels, app) {
				out[role] = append(out[role], &ci)
			}
		}
	}
	return out, nil
}
