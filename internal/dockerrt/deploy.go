package dockerrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// Labels on nd's containers (nd.app and nd.package also come with the image).
const (
	LabelApp        = image.LabelApp
	LabelPackage    = image.LabelPackage
	LabelGeneration = "nd.generation"
	LabelMode       = "nd.mode"
	LabelManaged    = "nd.managed"
	// LabelRelease, on a volume, names the release that created it
	// (deployspec.Spec.Release).
	LabelRelease = "nd.release"
	// LabelSpec is a hash of everything that decides what runs (image, env,
	// mounts, ports, ...), so a redeploy of the same thing changes nothing.
	LabelSpec = "nd.spec"
)

// Defaults of deployspec.Spec's durations.
const (
	DefaultSettleTime    = 2 * time.Second
	DefaultHealthTimeout = 60 * time.Second
)

// DeployResult says what a deploy did.
type DeployResult struct {
	ContainerID string
	// Changed is false when the app already ran exactly this spec.
	Changed bool
	// Previous is the ID of the container that was replaced, if any.
	Previous string
	// PreviousPackage is the package the replaced container ran.
	PreviousPackage string
	// Strategy is how the previous container was replaced (a
	// manifest.Strategy* constant; "" when nothing changed).
	Strategy string
	// Drained is the previous container when it served beside the new one
	// and was stopped after its drain period.
	Drained string
}

// DeployError is a failed deploy of a new container. If RolledBack, the
// previous container runs again.
type DeployError struct {
	App        string
	Package    string
	Cause      error
	RolledBack bool
	Previous   string // previous container ID, "" if none
	Logs       string // last log lines of the failed container
	// RollbackErr is set when restoring the previous container failed too.
	RollbackErr error
	// Overlapped says the previous container served throughout: the new one
	// failed beside it, before any connection went to it.
	Overlapped bool
}

func (e *DeployError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploying %s (%s): %v", e.App, e.Package, e.Cause)
	switch {
	case e.RollbackErr != nil:
		fmt.Fprintf(&b, "; restoring the previous container failed: %v", e.RollbackErr)
	case e.RolledBack && e.Overlapped:
		fmt.Fprintf(&b, "; the previous container %.12s kept serving", e.Previous)
	case e.RolledBack:
		fmt.Fprintf(&b, "; rolled back: the previous container %.12s runs again", e.Previous)
	case e.Previous == "":
		b.WriteString("; no previous container to roll back to")
	}
	if e.Logs != "" {
		fmt.Fprintf(&b, "\nlast log lines of the failed container:\n%s", e.Logs)
	}
	return b.String()
}

func (e *DeployError) Unwrap() error { return e.Cause }

// ErrNotManaged is returned when a container holding an nd name is not nd's.
var ErrNotManaged = errors.New("container is not managed by nd")

// Deploy makes the app's container run spec. The same spec again changes
// nothing. Otherwise the new container is created under a temporary name and,
// with the overlap strategy (see overlap), started beside the old one, which
// serves until the new one is ready. With the recreate strategy — the
// manifest's choice, or forced when there is no PortSwitch and the app
// publishes ports, since Docker lets one container hold a host port — the old
// one is renamed and stopped first, the new one started and awaited (running
// for SettleTime, and healthy if the image has a healthcheck); then the old
// one is removed and the new one takes the name nd-<app>. If the new one
// fails it is removed and the old one restored, and a *DeployError says why.
// With a PortSwitch the app's host ports always lead to the container named
// nd-<app> once a deploy ends. Named volumes are created if missing and never
// removed here.
func (r *Runtime) Deploy(ctx context.Context, spec deployspec.Spec) (res DeployResult, err error) {
	if spec.Manifest == nil || !manifest.ValidName(spec.App) || spec.ImageID == "" {
		return res, fmt.Errorf("deploy: need a valid app name, manifest and image ID")
	}
	env, err := envOf(spec.EnvFiles)
	if err != nil {
		return res, err
	}
	log := r.log.With("app", spec.App)

	// A drain of the app's previous deploy ends now: tidy and this deploy
	// then see the app's containers as they stay.
	if err := r.endDrain(ctx, spec.App); err != nil {
		return res, fmt.Errorf("ending the drain of %s: %w", prevName(spec.App), err)
	}
	cur, err := r.tidy(ctx, spec.App)
	if err != nil {
		return res, err
	}
	vols, err := r.resolveVolumes(ctx, spec.App, spec.Manifest.Volumes)
	if err != nil {
		return res, err
	}
	cfg, hc := containerConfig(spec, env, r.opts.StoreRoot, vols, r.ports != nil)
	if !spec.Force && cur != nil && cur.Config.Labels[LabelSpec] == cfg.Labels[LabelSpec] && cur.Image == spec.ImageID && cur.State.Running && !cur.State.Restarting {
		if cur.HostConfig != nil && cur.HostConfig.RestartPolicy != hc.RestartPolicy {
			// A deploy was interrupted at the end of its probation.
			if _, err := r.c.ContainerUpdate(ctx, cur.ID, container.UpdateConfig{RestartPolicy: hc.RestartPolicy}); err != nil {
				return res, fmt.Errorf("setting restart policy of %s: %w", ContainerName(spec.App), err)
			}
		}
		if r.ports != nil {
			// Routes follow the name nd-<app>; an interrupted deploy may
			// have left them elsewhere.
			if err := r.routeLive(ctx, spec.App, cur.ID); err != nil {
				return res, err
			}
		}
		log.Info("unchanged", "container", cur.ID[:12])
		spec.Progressf("container", "%s already runs this package (container %.12s)", spec.App, cur.ID)
		return DeployResult{ContainerID: cur.ID}, nil
	}
	if err := r.checkPortsFree(ctx, spec.App, spec.Manifest.Ports); err != nil {
		return res, err
	}
	if err := r.checkPorts(spec.App, spec.Manifest.Ports, cur); err != nil {
		return res, err
	}
	for _, v := range vols {
		if v.Note != "" && !v.Exists {
			spec.Progressf("volume", "%s", v.Note)
		}
	}
	newVols, err := r.createVolumes(ctx, spec.App, spec.Release, vols)
	for _, v := range newVols {
		spec.Progressf("volume", "created volume %s", v)
	}
	if err != nil {
		r.removeVolumesQuietly(ctx, newVols)
		return res, err
	}
	// Volumes this deploy created go again if it fails: a failed first
	// deploy leaves nothing behind.
	defer func() {
		if err != nil {
			r.removeVolumesQuietly(ctx, newVols)
		}
	}()
	// On probation the new container does not restart: an exit must show
	// with its code, not hide behind a restart loop. It gets its restart
	// policy once it is ready.
	probation := *hc
	probation.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
	created, err := r.c.ContainerCreate(ctx, cfg, &probation, nil, nil, newName(spec.App))
	if err != nil {
		return res, fmt.Errorf("creating container for %s: %w", spec.App, err)
	}
	newID := created.ID
	res = DeployResult{ContainerID: newID, Changed: true, Strategy: r.strategy(spec)}
	if res.Strategy == manifest.StrategyOverlap {
		return r.overlap(ctx, spec, hc, cur, res)
	}

	var oldRunning bool
	if cur != nil {
		res.Previous, res.PreviousPackage = cur.ID, cur.Config.Labels[LabelPackage]
		oldRunning = cur.State.Running
		if err := r.c.ContainerRename(ctx, cur.ID, prevName(spec.App)); err != nil {
			r.removeQuietly(ctx, newID)
			return res, fmt.Errorf("renaming old container of %s: %w", spec.App, err)
		}
		if oldRunning {
			log.Info("stopping previous container", "container", cur.ID[:12])
			spec.Progressf("container", "stopping previous container %.12s", cur.ID)
			if err := r.c.ContainerStop(ctx, cur.ID, container.StopOptions{}); err != nil {
				return res, r.rollback(ctx, spec, newID, cur.ID, oldRunning, fmt.Errorf("stopping previous container: %w", err))
			}
		}
	}
	log.Info("starting new container", "container", newID[:12], "package", spec.Package)
	spec.Progressf("container", "starting container %.12s", newID)
	if err := r.c.ContainerStart(ctx, newID, container.StartOptions{}); err != nil {
		return res, r.rollback(ctx, spec, newID, res.Previous, oldRunning, fmt.Errorf("starting container: %w", err))
	}
	if err := r.waitReady(ctx, newID, spec, true); err != nil {
		spec.Progressf("rollback", "new container failed (%v); restoring the previous one", err)
		return res, r.rollback(ctx, spec, newID, res.Previous, oldRunning, err)
	}
	if _, err := r.c.ContainerUpdate(ctx, newID, container.UpdateConfig{RestartPolicy: hc.RestartPolicy}); err != nil {
		return res, r.rollback(ctx, spec, newID, res.Previous, oldRunning, fmt.Errorf("setting restart policy: %w", err))
	}
	// Name first, then remove the old: if we are interrupted in between, the
	// next deploy finds nd-<app> plus a stale .prev and removes the latter.
	if err := r.c.ContainerRename(ctx, newID, ContainerName(spec.App)); err != nil {
		return res, r.rollback(ctx, spec, newID, res.Previous, oldRunning, fmt.Errorf("renaming new container: %w", err))
	}
	if err := r.routeLive(ctx, spec.App, newID); err != nil {
		return res, r.rollback(ctx, spec, newID, res.Previous, oldRunning, err)
	}
	if cur != nil {
		r.forgetUDP(ctx, cur)
	}
	if cur != nil {
		if err := r.c.ContainerRemove(ctx, cur.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			// The deploy worked; the next one removes the leftover.
			log.Warn("removing previous container", "container", cur.ID[:12], "error", err)
		}
	}
	log.Info("deployed", "container", newID[:12], "package", spec.Package)
	spec.Progressf("container", "%s runs container %.12s", spec.App, newID)
	return res, nil
}

// tidy cleans up after an interrupted deploy and returns the app's current
// container, or nil. It touches only containers labelled as app's.
func (r *Runtime) tidy(ctx context.Context, app string) (*container.InspectResponse, error) {
	cur, err := r.appContainer(ctx, app)
	if err != nil {
		return nil, err
	}
	temps, err := r.tempContainers(ctx, app)
	if err != nil {
		return nil, err
	}
	for _, stale := range temps[manifest.RoleNew] {
		r.log.Info("removing leftover container", "name", stale.Name)
		if err := r.c.ContainerRemove(ctx, stale.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("removing leftover %s: %w", stale.Name, err)
		}
	}
	for i, prev := range temps[manifest.RolePrev] {
		if cur == nil && i == 0 {
			// Interrupted between stopping the old and naming the new: the
			// old one is the app's container.
			if err := r.c.ContainerRename(ctx, prev.ID, ContainerName(app)); err != nil {
				return nil, fmt.Errorf("restoring name of %s: %w", prev.Name, err)
			}
			if !prev.State.Running {
				if err := r.c.ContainerStart(ctx, prev.ID, container.StartOptions{}); err != nil {
					return nil, fmt.Errorf("restarting %s: %w", ContainerName(app), err)
				}
			}
			if err := r.routeLive(ctx, app, prev.ID); err != nil {
				return nil, err
			}
			continue
		}
		// Interrupted after the new one took the name: the old is garbage.
		if err := r.c.ContainerRemove(ctx, prev.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("removing leftover %s: %w", prev.Name, err)
		}
	}
	if cur == nil && len(temps[manifest.RolePrev]) > 0 {
		return r.appContainer(ctx, app)
	}
	return cur, nil
}

// rollback removes the failed new container and restores the previous one.
// It runs even if ctx was cancelled: leaving the app down is worse.
func (r *Runtime) rollback(ctx context.Context, spec deployspec.Spec, newID, oldID string, oldRunning bool, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	de := &DeployError{App: spec.App, Package: spec.Package, Cause: cause, Previous: oldID}
	de.Logs = r.tailLogs(ctx, newID, 20)
	r.log.Warn("deploy failed, rolling back", "app", spec.App, "error", cause)
	if err := r.c.ContainerRemove(ctx, newID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		de.RollbackErr = fmt.Errorf("removing failed container: %w", err)
		return de
	}
	if oldID == "" {
		return de
	}
	if err := r.c.ContainerRename(ctx, oldID, ContainerName(spec.App)); err != nil {
		de.RollbackErr = fmt.Errorf("renaming previous container back: %w", err)
		return de
	}
	if oldRunning {
		if err := r.c.ContainerStart(ctx, oldID, container.StartOptions{}); err != nil {
			de.RollbackErr = fmt.Errorf("starting previous container: %w", err)
			return de
		}
		if err := r.waitReady(ctx, oldID, spec, false); err != nil {
			de.RollbackErr = fmt.Errorf("previous container: %w", err)
			return de
		}
		if err := r.routeLive(ctx, spec.App, oldID); err != nil {
			de.RollbackErr = err
			return de
		}
	}
	de.RolledBack = true
	return de
}

// containerConfig derives the container's settings. The image carries
// entrypoint, env, user, workdir and healthcheck; here come secrets, mounts,
// ports, labels and the restart policy.
//
// With routed the container publishes no host port: the agent's PortSwitch
// routes them, and the nd.ports label says which.
func containerConfig(spec deployspec.Spec, env []string, storeRoot string, vols map[string]appVolume, routed bool) (*container.Config, *container.HostConfig) {
	m := spec.Manifest
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	mode := manifest.ModeImage
	if spec.HostStore {
		mode = manifest.ModeHostStore
	}
	labels[LabelApp] = spec.App
	labels[LabelPackage] = spec.Package
	labels[LabelMode] = mode
	labels[LabelManaged] = "true"

	cfg := &container.Config{
		Image:        spec.ImageID,
		Env:          env,
		Labels:       labels,
		ExposedPorts: nat.PortSet{},
	}
	// nd-init gives its processes the grace period, then kills them;
	// Docker must not kill nd-init at that same moment, or the processes'
	// final output and exit statuses are lost.
	grace := m.StopGracePeriod
	if grace <= 0 {
		grace = defaultInitGrace
	}
	stopTimeout := grace + initStopSlack
	cfg.StopTimeout = &stopTimeout
	hc := &container.HostConfig{
		PortBindings:  nat.PortMap{},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	for _, p := range m.Ports {
		k := nat.Port(image.PortKey(p))
		cfg.ExposedPorts[k] = struct{}{}
		if !routed {
			hc.PortBindings[k] = append(hc.PortBindings[k], nat.PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.Host)})
		}
	}
	if routed && len(m.Ports) > 0 {
		labels[LabelPorts] = encodePorts(m.Ports)
	}
	if spec.HostStore {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: storeRoot + "/nix/store", Target: "/nix/store", ReadOnly: true})
	}
	for _, v := range m.Volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: vols[v.Name].Name, Target: v.Path})
	}
	// The spec hash covers everything but the generation, so pushing the same
	// package again is a no-op.
	h := sha256.New()
	json.NewEncoder(h).Encode(struct {
		C *container.Config
		H *container.HostConfig
	}{cfg, hc})
	cfg.Labels[LabelSpec] = hex.EncodeToString(h.Sum(nil))[:32]
	cfg.Labels[LabelGeneration] = strconv.Itoa(spec.Generation)
	return cfg, hc
}

func (r *Runtime) removeVolumesQuietly(ctx context.Context, names []string) {
	for _, v := range names {
		if err := r.c.VolumeRemove(context.WithoutCancel(ctx), v, false); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("removing volume", "volume", v, "error", err)
		}
	}
}

func (r *Runtime) removeQuietly(ctx context.Context, id string) {
	if err := r.c.ContainerRemove(context.WithoutCancel(ctx), id, container.RemoveOptions{Force: true}); err != nil {
		r.log.Warn("removing container", "container", id, "error", err)
	}
}

// nd-init's default grace period (supervise.DefaultStopGracePeriod, in
// seconds) and the slack Docker gives it on top before SIGKILL.
const (
	defaultInitGrace = 10
	initStopSlack    = 5
)

// envOf is the environment of the secret env files, later files winning.
func envOf(files []string) ([]string, error) {
	e, err := manifest.ReadEnvFiles(files)
	if err != nil {
		return nil, err
	}
	return manifest.SortedEnv(e.Vars), nil
}
