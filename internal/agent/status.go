package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// handleStatus answers GET /v1/apps and /v1/apps/{app} with the objects of
// `nd-push status --json`, so that curl on the socket shows what nd-push
// does. An app that is not deployed is left out.
func (a *Agent) handleStatus(ctx context.Context, c *call) error {
	app := c.r.PathValue("app")
	apps := []string{app}
	if app == "" {
		apps = nil
		ents, err := os.ReadDir(a.appsDir())
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("listing apps: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() && manifest.ValidName(e.Name()) {
				apps = append(apps, e.Name())
			}
		}
	} else if !manifest.ValidName(app) {
		return codef(proto.CodeBadRequest, "bad app name %q", app)
	}
	// An app's container state is part of its status: without Docker the
	// answer would claim "no container" for every app.
	if err := a.requireDocker(ctx); err != nil {
		return err
	}
	rep := proto.Apps{Apps: []proto.AppStatus{}}
	for _, app := range apps {
		st, err := a.loadState(app)
		var se *StateError
		if errors.As(err, &se) {
			as := proto.AppStatus{App: app, Generations: []proto.GenerationView{}, Error: se.Error()}
			cs, _ := a.containerStatus(ctx, app)
			as.Container = containerView(cs)
			rep.Apps = append(rep.Apps, as)
			continue
		}
		if err != nil {
			return err
		}
		if st.Current == 0 && len(st.Generations) == 0 {
			continue
		}
		cs, err := a.containerStatus(ctx, app)
		if err != nil {
			return err
		}
		rep.Apps = append(rep.Apps, appView(app, st, cs))
	}
	slices.SortFunc(rep.Apps, func(x, y proto.AppStatus) int { return strings.Compare(x.App, y.App) })
	return c.reply(&rep)
}

// appView is an app's state and container as status shows them.
func appView(app string, st *appState, cs *proto.ContainerStatus) proto.AppStatus {
	as := proto.AppStatus{App: app, Generation: st.Current, Generations: []proto.GenerationView{}, Container: containerView(cs)}
	for _, g := range st.Generations {
		gv := proto.GenerationView{Number: g.Number, Package: g.Package, DeployedAt: timeString(g.DeployedAt),
			PushedBy: g.PushedBy, RollbackOf: g.RollbackOf, Current: g.Number == st.Current, Mode: g.Mode}
		if gv.Current {
			as.Package, as.DeployedAt, as.PushedBy = gv.Package, gv.DeployedAt, gv.PushedBy
		}
		as.Generations = append(as.Generations, gv)
	}
	return as
}

func containerView(c *proto.ContainerStatus) *proto.ContainerView {
	if c == nil {
		return nil
	}
	cv := &proto.ContainerView{ID: c.ID, State: c.State, Health: c.Health, Generation: c.Generation,
		RestartCount: c.RestartCount, StartedAt: c.StartedAt, Ports: []string{}, PortsBy: c.PortsBy, Routes: c.Routes,
		Draining: c.Draining}
	for _, p := range c.Ports {
		cv.Ports = append(cv.Ports, portString(p))
	}
	return cv
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func portString(p proto.PortMap) string {
	s := fmt.Sprintf("%d->%d/%s", p.Host, p.Container, p.Protocol)
	if p.HostIP != "" && p.HostIP != "0.0.0.0" {
		s = p.HostIP + ":" + s
	}
	return s
}
