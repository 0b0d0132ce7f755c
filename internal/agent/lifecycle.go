package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/nd-project/nd/internal/proto"
)

// Controller is implemented by a Runtime that can stop, start and restart
// an app's container in place (nd-push stop, start, restart). It is apart
// from Operator so runtimes without it keep working; the agent then says
// the operation is unsupported.
type Controller interface {
	// Lifecycle does action ("stop", "start" or "restart") to app's
	// container; an error wraps ErrNoContainer if it has none.
	Lifecycle(ctx context.Context, app, action string) error
}

// handleLifecycle serves restart, stop and start: the route's {action}. It holds the app's lock, so it never races a deploy or rollback.
func (a *Agent) handleLifecycle(ctx context.Context, c *call) error {
	req := proto.AppOp{App: c.r.PathValue("app")}
	action := c.r.PathValue("action")
	switch proto.Action(action) {
	case proto.ActionRestart, proto.ActionStop, proto.ActionStart:
	default:
		return codef(proto.CodeUnsupported, "nd-agent does not serve POST %s", c.r.URL.Path)
	}
	if err := checkApp(req.App); err != nil {
		return err
	}
	ctl, ok := a.cfg.Runtime.(Controller)
	if !ok {
		return codef(proto.CodeUnsupported, "nd-agent has no container runtime that can %s apps", action)
	}
	op, err := a.operator(ctx)
	if err != nil {
		return err
	}
	unlock, err := a.lockAppFor(ctx, req.App, c.progress)
	if err != nil {
		return err
	}
	defer unlock()
	c.progress(action, action+" "+req.App)
	if err := ctl.Lifecycle(ctx, req.App, action); err != nil {
		if errors.Is(err, ErrNoContainer) {
			return noContainer(req.App, err)
		}
		return fmt.Errorf("%s %s: %w", action, req.App, err)
	}
	cs, err := op.Inspect(ctx, req.App)
	if err != nil {
		return noContainer(req.App, err)
	}
	a.log.Info(action, "app", req.App, "state", cs.State)
	return c.reply(&proto.AppState{Container: *cs})
}
