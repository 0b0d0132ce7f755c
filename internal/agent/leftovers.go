package agent

import (
	"context"
	"errors"
	"os"
	"slices"

	"github.com/nd-project/nd/internal/manifest"
)

// ImageLister is optionally implemented by an ImageRuntime: the apps the
// container runtime holds nd images of, so that a restarted agent finds the
// images of apps it has no state of.
type ImageLister interface {
	ImageApps(ctx context.Context) ([]string, error)
}

// sweepLeftovers removes what pushes cut off by the agent's death left
// outside any release's intent record: the image a push prepared or had
// dockerd pull before its release began, and, for an app never deployed,
// its secrets sets, image records and directories. A failed deploy cleans
// up after itself (forgetFailedFirst, dropFailedPrepared) and an
// interrupted release is finished by reconcile; a killed agent does
// neither, and its sessions, which would have removed their images, died
// with it. The repair loop runs the sweep once per start, after repairing
// releases.
//
// Each app is swept under its lock, so no deploy is between its pull and
// its release, and skipped while a live session prepares or holds an image
// of it: a push that began since the start keeps its head start.
func (a *Agent) sweepLeftovers(ctx context.Context) {
	apps := a.listApps()
	if il, ok := a.cfg.Runtime.(ImageLister); ok {
		more, err := il.ImageApps(ctx)
		if err != nil {
			a.log.Warn("sweeping leftovers of interrupted pushes", "error", err)
		}
		for _, app := range more {
			if !slices.Contains(apps, app) {
				apps = append(apps, app)
			}
		}
	}
	for _, app := range apps {
		if ctx.Err() != nil {
			return
		}
		a.sweepApp(ctx, app)
	}
	a.collectBlobs()
}

func (a *Agent) sweepApp(ctx context.Context, app string) {
	if !manifest.ValidName(app) {
		return
	}
	unlock, err := a.lockApp(ctx, app, func() {})
	if err != nil {
		return
	}
	defer unlock()
	if _, err := os.Stat(a.intentPath(app)); !errors.Is(err, os.ErrNotExist) {
		return // not repaired yet: the repair loop retries it
	}
	if a.holdsImages(app) {
		return
	}
	st, err := a.loadState(app)
	if err != nil {
		return // nd-agent check reports it
	}
	if len(st.Generations) == 0 {
		a.log.Info("removing what interrupted pushes left of an app never deployed", "app", app)
		// A set uploaded before this agent started belongs to a push cut
		// off with the agent before it (one whose deploy reaches this
		// agent instead is told to push again: its set is not here).
		a.pruneSecretsBefore(st, a.started)
		a.forgetUndeployedLocked(ctx, app)
		return
	}
	// The images retain keeps after a release.
	a.pruneImages(ctx, st)
}
