package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// Runtime is what the agent needs of the container side (internal/dockerrt
// behind an adapter): make the container of a deploy package run, replacing
// the app's previous one, and restore the previous one if that fails.
//
// Deploy must converge, because reconcile (intent.go) relies on it to finish
// interrupted releases: whatever an interrupted Deploy left (temporary
// containers, the previous container renamed or stopped), a Deploy without
// Force of the spec the app ran before it ends with exactly that spec
// running under the app's name and nothing else of the app, and changes
// nothing when that is already so. Which images stay is not its business
// (ImageRuntime.PruneImages, called by the agent's retain).
type Runtime interface {
	Deploy(ctx context.Context, spec deployspec.Spec) (DeployResult, error)
}

// Pinger is optionally implemented by a Runtime to report whether it is
// reachable (the Docker capability).
type Pinger interface {
	Ping(ctx context.Context) error
}

// DeployResult is what the Runtime did.
type DeployResult struct {
	ContainerID string
	Changed     bool // false: the container already ran Package
}

// lockApp serializes deploys of one app; a second deploy waits (and says so).
func (a *Agent) lockApp(ctx context.Context, app string, waiting func()) (unlock func(), err error) {
	a.mu.Lock()
	l := a.appLocks[app]
	if l == nil {
		l = make(chan struct{}, 1)
		a.appLocks[app] = l
	}
	a.mu.Unlock()
	select {
	case l <- struct{}{}:
	default:
		waiting()
		select {
		case l <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for another deploy of %s: %w", app, ctx.Err())
		}
	}
	return func() { <-l }, nil
}

// lockAppFor is lockApp for a client's request: a wait is reported to
// progress, and a wait cut short is a busy error.
func (a *Agent) lockAppFor(ctx context.Context, app string, progress func(stage, msg string)) (unlock func(), err error) {
	unlock, err = a.lockApp(ctx, app, func() {
		progress("waiting", "another deploy of "+app+" is in progress; waiting for it")
	})
	if err != nil {
		return nil, withCode(proto.CodeBusy, err)
	}
	return unlock, nil
}

func (a *Agent) handleDeploy(ctx context.Context, c *call) error {
	var req proto.Deploy
	if err := c.decode(&req); err != nil {
		return err
	}
	req.App = c.r.PathValue("app")
	if !manifest.ValidName(req.App) {
		return codef(proto.CodeBadRequest, "bad app name %q", req.App)
	}
	if err := nixstore.ValidStorePath(req.Package); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkSession(req.Session); err != nil {
		return err
	}
	res, err := a.Deploy(ctx, req, c.progress)
	if err != nil {
		a.forgetFailedFirst(ctx, req.App, req.Secrets)
		a.dropFailedPrepared(req.Session, req.App)
		return err
	}
	return c.reply(&res)
}

// Deploy records and runs a deploy of req.Package as req.App.
func (a *Agent) Deploy(ctx context.Context, req proto.Deploy, progress func(stage, msg string)) (proto.Deployed, error) {
	var res proto.Deployed
	if err := a.requireNix(); err != nil {
		return res, err
	}
	if a.cfg.Runtime == nil {
		return res, codef(proto.CodeDeploy, "nd-agent has no container runtime configured")
	}
	if err := a.requireDocker(ctx); err != nil {
		return res, err
	}
	unlock, err := a.lockAppFor(ctx, req.App, progress)
	if err != nil {
		return res, err
	}
	defer unlock()

	if err := a.reconcileLocked(ctx, req.App, false); err != nil {
		return res, withCode(proto.CodeDeploy, fmt.Errorf("repairing an interrupted deploy of %s first: %w", req.App, err))
	}
	// The push's session saw the package valid and roots it: no need to
	// ask the store again (one nix-store process less per deploy).
	if !a.sessionHas(req.Session, req.Package) {
		valid, err := a.cfg.Store.QueryValid(ctx, []string{req.Package})
		if err != nil {
			return res, err
		}
		if !valid[req.Package] {
			return res, codef(proto.CodeNotFound, "deploy package %s is not in the store of this host: push it first", req.Package)
		}
	}
	m, err := manifest.Load(a.cfg.Store.RealPath(req.Package))
	if err != nil {
		return res, withCode(proto.CodeBadRequest, fmt.Errorf("loading deploy package: %w", err))
	}
	if m.Name != req.App {
		return res, codef(proto.CodeBadRequest, "deploy package %s is app %q, not %q", req.Package, m.Name, req.App)
	}
	closure, err := a.packageClosure(ctx, req.Package, m)
	if err != nil {
		return res, err
	}
	st, err := a.loadState(req.App)
	if err != nil {
		return res, err
	}
	res, err = a.release(ctx, st, release{
		Op:       intentDeploy,
		Gen:      proto.Generation{Package: req.Package, PushedBy: req.PushedBy, Secrets: req.Secrets},
		Manifest: m, Closure: closure, Force: req.Force,
		Describe: func(n int) string { return fmt.Sprintf("%s generation %d: %s", req.App, n, req.Package) },
	}, progress)
	if err != nil {
		return res, err
	}
	a.endSession(req.Session)
	a.sweepSessions()
	a.log.Info("deployed", "app", req.App, "generation", res.Generation, "package", req.Package, "container", res.ContainerID, "changed", res.Changed)
	return res, nil
}

// prune drops all but the current and KeepGenerations most recent other
// generations from st (retain then drops what they held).
func (a *Agent) prune(st *appState) {
	sort.Slice(st.Generations, func(i, j int) bool { return st.Generations[i].Number < st.Generations[j].Number })
	var keep []proto.Generation
	others := 0
	for i := len(st.Generations) - 1; i >= 0; i-- {
		g := st.Generations[i]
		if g.Number != st.Current {
			others++
			if others > a.cfg.KeepGenerations {
				continue
			}
		}
		keep = append([]proto.Generation{g}, keep...)
	}
	st.Generations = keep
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
