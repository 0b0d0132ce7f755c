package dockerrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// ErrNoApp is returned for an app that has no container.
var ErrNoApp = errors.New("no such app")

// AppStatus is what Docker says about an app's container.
type AppStatus struct {
	App         string
	ContainerID string
	Image       string
	Package     string
	Generation  int
	Mode        string
	// State is Docker's: created, running, restarting, exited, ...
	State string
	// Health is "", starting, healthy or unhealthy.
	Health       string
	ExitCode     int
	RestartCount int
	StartedAt    time.Time
	// Ports are the published ports (Host is 0 if not bound).
	Ports []manifest.Port
	// Routed says the agent's PortSwitch owns the ports (the nd.ports
	// label), not Docker; RoutedTo is where they lead now, e.g.
	// "8080->172.17.0.3:8080/tcp", which names the live container's address.
	Routed   bool
	RoutedTo []string
	// Draining is the previous container while it finishes its
	// connections after an overlap deploy; nil otherwise.
	Draining *DrainingStatus
}

// DrainingStatus is the container an overlap deploy replaced, while it
// drains.
type DrainingStatus struct {
	ContainerID string
	Package     string
	Generation  int
	State       string
}

// Status reports on app's container; errors.Is(err, ErrNoApp) if it has none.
func (r *Runtime) Status(ctx context.Context, app string) (*AppStatus, error) {
	ci, err := r.c.ContainerInspect(ctx, ContainerName(app))
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("app %s: %w", app, ErrNoApp)
	} else if err != nil {
		return nil, fmt.Errorf("inspecting container of %s: %w", app, err)
	}
	if ci.Config == nil || ci.Config.Labels[LabelManaged] != "true" {
		return nil, fmt.Errorf("container %s: %w", ContainerName(app), ErrNotManaged)
	}
	st := &AppStatus{
		App:          app,
		ContainerID:  ci.ID,
		Image:        ci.Image,
		Package:      ci.Config.Labels[LabelPackage],
		Mode:         ci.Config.Labels[LabelMode],
		RestartCount: ci.RestartCount,
	}
	st.Generation, _ = strconv.Atoi(ci.Config.Labels[LabelGeneration])
	if s := ci.State; s != nil {
		st.State = string(s.Status)
		st.ExitCode = s.ExitCode
		st.StartedAt, _ = time.Parse(time.RFC3339Nano, s.StartedAt)
		if s.Health != nil {
			st.Health = string(s.Health.Status)
		}
	}
	if routed(&ci) {
		st.Routed = true
		st.Ports, err = decodePorts(ci.Config.Labels[LabelPorts])
		if err != nil {
			return nil, err
		}
		if r.ports != nil {
			bs, err := r.ports.Bindings(ctx, app)
			if err != nil {
				return nil, fmt.Errorf("reading port routes of %s: %w", app, err)
			}
			if r.ports6 != nil {
				bs6, err := r.ports6.Bindings(ctx, app)
				if err != nil {
					return nil, fmt.Errorf("reading IPv6 port routes of %s: %w", app, err)
				}
				bs = append(bs, bs6...)
			}
			for _, b := range bs {
				st.RoutedTo = append(st.RoutedTo, b.String())
			}
		}
	} else if ci.HostConfig != nil {
		for p, bs := range ci.HostConfig.PortBindings {
			for _, b := range bs {
				host, _ := strconv.Atoi(b.HostPort)
				st.Ports = append(st.Ports, manifest.Port{Host: host, Container: p.Int(), Protocol: p.Proto(), HostIP: b.HostIP})
			}
		}
		sort.Slice(st.Ports, func(i, j int) bool {
			a, b := st.Ports[i], st.Ports[j]
			if a.Container != b.Container {
				return a.Container < b.Container
			}
			return a.Host < b.Host
		})
	}
	// The names swap between the two inspects during a deploy: the same
	// container under both is not draining yet.
	if prev, err := r.c.ContainerInspect(ctx, prevName(app)); err == nil && prev.ID != ci.ID && prev.Config != nil &&
		prev.Config.Labels[LabelManaged] == "true" && prev.State != nil && prev.State.Running {
		d := &DrainingStatus{ContainerID: prev.ID, Package: prev.Config.Labels[LabelPackage], State: string(prev.State.Status)}
		d.Generation, _ = strconv.Atoi(prev.Config.Labels[LabelGeneration])
		st.Draining = d
	}
	return st, nil
}

// List reports on every nd-managed app, sorted by name.
func (r *Runtime) List(ctx context.Context) ([]AppStatus, error) {
	cs, err := r.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []AppStatus
	for _, c := range cs {
		app := c.Labels[LabelApp]
		if !containsName(c.Names, ContainerName(app)) {
			continue // a deploy's temporary container
		}
		st, err := r.Status(ctx, app)
		if errors.Is(err, ErrNoApp) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].App < out[j].App })
	return out, nil
}

func containsName(names []string, want string) bool {
	for _, n := range names {
		if strings.TrimPrefix(n, "/") == want {
			return true
		}
	}
	return false
}

// Logs streams the app's container output (stdout and stderr interleaved,
// demultiplexed). tail < 0 means all lines. With follow it ends when ctx is
// cancelled, the container stops, or the reader is closed.
func (r *Runtime) Logs(ctx context.Context, app string, o LogsOptions) (io.ReadCloser, error) {
	return r.logs(ctx, ContainerName(app), o)
}

// LogsOptions select what Logs shows.
type LogsOptions struct {
	Follow     bool
	Tail       int    // < 0: all lines
	Since      string // Docker's since: Unix seconds; "": from the start
	Timestamps bool   // prefix each line with Docker's RFC 3339 timestamp
}

func (r *Runtime) logs(ctx context.Context, ctr string, o LogsOptions) (io.ReadCloser, error) {
	t := "all"
	if o.Tail >= 0 {
		t = strconv.Itoa(o.Tail)
	}
	rc, err := r.c.ContainerLogs(ctx, ctr, container.LogsOptions{ShowStdout: true, ShowStderr: true,
		Follow: o.Follow, Tail: t, Since: o.Since, Timestamps: o.Timestamps})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("logs of %s: %w", ctr, ErrNoApp)
	} else if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", ctr, err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		rc.Close()
		pw.CloseWithError(err)
	}()
	return readCloser{pr, func() error { rc.Close(); return pr.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// tailLogs returns the last n lines of a container's output, best effort.
func (r *Runtime) tailLogs(ctx context.Context, id string, n int) string {
	rc, err := r.logs(ctx, id, LogsOptions{Tail: n})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 16<<10))
	return string(bytes.TrimRight(b, "\n"))
}

// Remove deletes the app's containers (also leftovers of an interrupted
// deploy) and its nd images; with volumes also its named volumes — their data
// is gone then.
func (r *Runtime) Remove(ctx context.Context, app string, volumes bool) error {
	// Refuse before removing anything if a volume to remove is another
	// app's too (an earlier agent let two apps share one).
	var vols []string
	if volumes {
		var err error
		if vols, err = r.removableVolumes(ctx, app); err != nil {
			return err
		}
	}
	if err := r.endDrain(ctx, app); err != nil {
		return fmt.Errorf("ending the drain of %s: %w", prevName(app), err)
	}
	cur, err := r.appContainer(ctx, app)
	if err != nil {
		return err
	}
	temps, err := r.tempContainers(ctx, app)
	if err != nil {
		return err
	}
	all := append(temps[manifest.RoleNew], temps[manifest.RolePrev]...)
	if cur != nil {
		all = append(all, cur)
	}
	for _, ci := range all {
		if err := r.c.ContainerRemove(ctx, ci.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("removing %s: %w", strings.TrimPrefix(ci.Name, "/"), err)
		}
	}
	imgs, err := r.c.ImageList(ctx, dimage.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", image.Repository(app)))})
	if err != nil {
		return fmt.Errorf("listing images of %s: %w", app, err)
	}
	for _, im := range imgs {
		if im.Labels[LabelApp] != app {
			continue // tagged in nd's repository of app, but not app's
		}
		if _, err := r.c.ImageRemove(ctx, im.ID, dimage.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.log.Warn("removing image", "image", im.ID, "error", err)
		}
	}
	for _, v := range vols {
		if err := r.c.VolumeRemove(ctx, v, false); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("removing volume %s: %w", v, err)
		}
	}
	if err := r.clearPorts(ctx, app); err != nil {
		return fmt.Errorf("removing port routes of %s: %w", app, err)
	}
	if len(all) == 0 {
		return fmt.Errorf("removing %s: %w", app, ErrNoApp)
	}
	return nil
}

// Exec runs cmd in the app's running container (as the container's user),
// copying stdin (may be nil) and the output, and returns its exit code.
func (r *Runtime) Exec(ctx context.Context, app string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	ex, err := r.c.ContainerExecCreate(ctx, ContainerName(app), container.ExecOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if cerrdefs.IsNotFound(err) {
		return -1, fmt.Errorf("exec in %s: %w", app, ErrNoApp)
	} else if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	hj, err := r.c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("attaching exec in %s: %w", app, err)
	}
	defer hj.Close()
	if stdin != nil {
		go func() {
			io.Copy(hj.Conn, stdin)
			hj.CloseWrite()
		}()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, hj.Reader); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	ins, err := r.c.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", app, err)
	}
	return ins.ExitCode, nil
}

// ImageApps returns the apps dockerd holds nd images of (repository
// nd/<app>, labelled with the app), in order: the agent's sweep after a
// restart looks among them for what interrupted pushes left.
func (r *Runtime) ImageApps(ctx context.Context) ([]string, error) {
	imgs, err := r.c.ImageList(ctx, dimage.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelApp))})
	if err != nil {
		return nil, fmt.Errorf("listing nd images: %w", err)
	}
	seen := map[string]bool{}
	var apps []string
	for _, im := range imgs {
		app := im.Labels[LabelApp]
		if seen[app] || !manifest.ValidName(app) {
			continue
		}
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, image.Repository(app)+":") {
				seen[app] = true
				apps = append(apps, app)
				break
			}
		}
	}
	sort.Strings(apps)
	return apps, nil
}

// PruneImages removes the app's nd images (repository nd/<app>) except those
// with an ID in keep and those a container uses, and returns how many it
// removed. The agent calls it after a deploy with the images of the
// generations it keeps.
func (r *Runtime) PruneImages(ctx context.Context, app string, keep ...string) (int, error) {
	repo := image.Repository(app)
	imgs, err := r.c.ImageList(ctx, dimage.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
	if err != nil {
		return 0, fmt.Errorf("listing images of %s: %w", app, err)
	}
	cs, err := r.c.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return 0, fmt.Errorf("listing containers: %w", err)
	}
	used := map[string]bool{}
	for _, k := range keep {
		used[k] = true
	}
	for _, c := range cs {
		used[c.ImageID] = true
	}
	n := 0
	for _, im := range imgs {
		if used[im.ID] || im.Labels[LabelApp] != app {
			continue
		}
		for _, tag := range im.RepoTags {
			if !strings.HasPrefix(tag, repo+":") {
				continue
			}
			if _, err := r.c.ImageRemove(ctx, tag, dimage.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
				return n, fmt.Errorf("removing image %s: %w", tag, err)
			}
		}
		n++
	}
	return n, nil
}
