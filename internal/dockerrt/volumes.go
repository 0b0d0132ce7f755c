package dockerrt

import (
	"context"
	"fmt"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/nd-project/nd/internal/manifest"
)

// LabelVolume names the app's volume (manifest.Volume.Name) on a Docker
// volume, next to LabelApp.
const LabelVolume = "nd.volume"

// appVolume is the Docker volume that one of an app's volumes is.
type appVolume struct {
	Name   string // Docker's name
	Exists bool
	// Note says why an earlier agent's volume of that name is not used.
	Note string
}

// resolveVolumes decides which Docker volume each of the app's volumes is,
// without changing anything. A volume that exists under
// manifest.VolumeName must be labelled as app's, or the deploy is refused.
// Otherwise a volume under the name of earlier agents
// (manifest.LegacyVolumeName) is used where it exists and its labels say it
// is app's: that keeps the data of deploys made before the upgrade. That
// name alone is not app's (app "vc" + "x-data" and app "vc-x" + "data" give
// the same one); its labels, set by whichever app created it, are the only
// record of whose it is, so the other app gets a volume of its own.
func (r *Runtime) resolveVolumes(ctx context.Context, app string, vols []manifest.Volume) (map[string]appVolume, error) {
	out := map[string]appVolume{}
	for _, v := range vols {
		name := manifest.VolumeName(app, v.Name)
		owned, found, err := r.volumeOwned(ctx, name, app, v.Name)
		if err != nil {
			return nil, err
		}
		if found && !owned {
			return nil, fmt.Errorf("volume %s (app %s, volume %s) exists but its labels do not say it is that app's volume; remove or rename it", name, app, v.Name)
		}
		if found {
			out[v.Name] = appVolume{Name: name, Exists: true}
			continue
		}
		legacy := manifest.LegacyVolumeName(app, v.Name)
		owned, found, err = r.volumeOwned(ctx, legacy, app, v.Name)
		if err != nil {
			return nil, err
		}
		if found && owned {
			out[v.Name] = appVolume{Name: legacy, Exists: true}
			continue
		}
		av := appVolume{Name: name}
		if found {
			av.Note = fmt.Sprintf("volume %s, the name earlier agents gave volume %s of %s, is labelled as another app's; %s gets its own volume %s", legacy, v.Name, app, app, name)
		}
		out[v.Name] = av
	}
	return out, nil
}

// volumeOwned inspects volume name: whether it exists and whether its labels
// say it is app's volume vol (legacy volumes carry no LabelVolume).
func (r *Runtime) volumeOwned(ctx context.Context, name, app, vol string) (owned, found bool, err error) {
	v, err := r.c.VolumeInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return false, false, nil
	} else if err != nil {
		return false, false, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	owned = ownedBy(v.Labels, app)
	if l, ok := v.Labels[LabelVolume]; ok && l != vol {
		owned = false
	}
	return owned, true, nil
}

// createVolumes creates the volumes resolveVolumes found missing, labelled as
// the app's (and release's, if not ""), and returns their names.
func (r *Runtime) createVolumes(ctx context.Context, app, release string, vols map[string]appVolume) ([]string, error) {
	var created []string
	keys := make([]string, 0, len(vols))
	for k := range vols {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := vols[k]
		if v.Exists {
			continue
		}
		if v.Note != "" {
			r.log.Warn(v.Note)
		}
		labels := map[string]string{LabelApp: app, LabelVolume: k, LabelManaged: "true"}
		if release != "" {
			labels[LabelRelease] = release
		}
		_, err := r.c.VolumeCreate(ctx, volume.CreateOptions{Name: v.Name, Labels: labels})
		if err != nil {
			return created, fmt.Errorf("creating volume %s: %w", v.Name, err)
		}
		r.log.Info("created volume", "volume", v.Name)
		created = append(created, v.Name)
	}
	return created, nil
}

// RemoveReleaseVolumes removes the volumes of app that release created
// (LabelRelease) and no container uses: the repair of a release that was
// interrupted and undone leaves no more than the release's own failure
// would have.
func (r *Runtime) RemoveReleaseVolumes(ctx context.Context, app, release string) error {
	vs, err := r.c.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelApp+"="+app),
		filters.Arg("label", LabelManaged+"=true"), filters.Arg("label", LabelRelease+"="+release))})
	if err != nil {
		return fmt.Errorf("listing volumes of %s: %w", app, err)
	}
	for _, v := range vs.Volumes {
		// Not forced: dockerd refuses a volume a container uses.
		err := r.c.VolumeRemove(ctx, v.Name, false)
		switch {
		case err == nil:
			r.log.Info("removed volume of an undone release", "volume", v.Name)
		case cerrdefs.IsNotFound(err), cerrdefs.IsConflict(err):
		default:
			return fmt.Errorf("removing volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// removableVolumes lists the volumes labelled as app's, and refuses if a
// container of another app uses one of them.
func (r *Runtime) removableVolumes(ctx context.Context, app string) ([]string, error) {
	vs, err := r.c.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelApp+"="+app), filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("listing volumes of %s: %w", app, err)
	}
	var names []string
	for _, v := range vs.Volumes {
		cs, err := r.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("volume", v.Name))})
		if err != nil {
			return nil, fmt.Errorf("listing containers using volume %s: %w", v.Name, err)
		}
		for _, c := range cs {
			if c.Labels[LabelApp] != app {
				user := c.Labels[LabelApp]
				if user == "" {
					user = strings.TrimPrefix(strings.Join(c.Names, ","), "/")
				}
				return nil, fmt.Errorf("volume %s of app %s is also used by %s; nothing removed (remove that app first, or rm without --volumes)", v.Name, app, describeUser(c.Labels[LabelApp], user))
			}
		}
		names = append(names, v.Name)
	}
	sort.Strings(names)
	return names, nil
}

func describeUser(app, fallback string) string {
	if app != "" {
		return "app " + app
	}
	return "container " + fallback
}
