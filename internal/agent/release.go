package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// The release path: every change of what an app runs — deploy, image
// deploy, rollback (to either mode) and the repair of an interrupted one —
// goes through release, in this order:
//
//	intent   the intent record is written (intent.go); nothing changed yet
//	prepare  image mode: the archive is loaded and its manifest saved
//	root     host-store mode: the generation's GC root
//	runtime  the container is replaced (the runtime restores the previous
//	         one when the new one fails)
//	commit   state.json names the new generation current
//	retain   what the generations no longer kept held goes (retain)
//	         and the intent record is removed
//
// The commit is the point of no return: interrupted before it, the app is
// put back on the generation state.json names; after it, on the new one
// (reconcile). What a client is told is what runs.

// release is one change of what an app runs.
type release struct {
	Op  string // intentDeploy, intentDeployImage, intentRollback
	Gen proto.Generation
	// Manifest of Gen.Package, and (host-store mode) the package's closure,
	// checked to hold what the manifest names (packageClosure).
	Manifest *manifest.Manifest
	Closure  []string
	Force    bool
	Session  string
	// Prepare, if set, runs after the intent is recorded and before the
	// container changes (image mode: loading the image).
	Prepare func(ctx context.Context) error
	// Describe is the progress line for a new generation N.
	Describe func(n int) string
}

// sameRun reports whether generation g runs what cur runs.
func sameRun(cur *proto.Generation, g proto.Generation) bool {
	return cur != nil && cur.Package == g.Package && cur.Secrets == g.Secrets && cur.ImageID == g.ImageID && cur.Mode == g.Mode
}

// release runs rel for st.App. The caller holds the app's lock, has
// reconciled the app and loaded st.
func (a *Agent) release(ctx context.Context, st *appState, rel release, progress func(stage, msg string)) (proto.Deployed, error) {
	var res proto.Deployed
	app := st.App
	progress = a.crashOnProgress(progress)
	cur := st.current()
	same := sameRun(cur, rel.Gen) && !rel.Force

	next := st.clone()
	g := rel.Gen
	if same {
		g = *cur
	} else {
		g.Number = st.next()
		g.DeployedAt = a.cfg.Now().UTC()
	}
	envFiles, err := a.secretFiles(app, g.Secrets)
	if err != nil {
		return res, err
	}
	in := &intent{Version: intentVersion, Op: rel.Op, App: app, Generation: g.Number, Previous: st.Current,
		Package: g.Package, ImageID: g.ImageID, StartedAt: a.cfg.Now().UTC()}
	if err := a.writeIntent(in); err != nil {
		return res, err
	}
	a.crashPoint("intent")
	if rel.Prepare != nil {
		if err := rel.Prepare(ctx); err != nil {
			a.abandon(ctx, app)
			return res, err
		}
	}
	a.crashPoint("prepared")
	if g.Mode != manifest.ModeImage {
		if err := addRoot(a.generationRoot(app, g.Number), g.Package); err != nil {
			a.abandon(ctx, app)
			return res, err
		}
	}
	a.crashPoint("root")
	if same {
		progress("deploy", fmt.Sprintf("%s generation %d is already %s", app, g.Number, g.Package))
	} else if rel.Describe != nil {
		progress("deploy", rel.Describe(g.Number))
	}
	r, err := a.run(ctx, app, g, rel.Manifest, rel.Closure, envFiles, rel.Force, in.release(), progress)
	if err != nil {
		err = withCode(proto.CodeDeploy, fmt.Errorf("deploying %s generation %d: %w", app, g.Number, err))
		if same {
			// Nothing to go back to: what ran is what is recorded.
			a.dropIntent(app)
			return res, err
		}
		if aerr := a.abandon(ctx, app); aerr != nil {
			err = fmt.Errorf("%w\n(nd-agent keeps trying to put generation %d back, and does once the container runtime answers)", err, st.Current)
		}
		return res, err
	}
	a.crashPoint("started")
	if same {
		if r.ContainerID != cur.ContainerID {
			next.current().ContainerID = r.ContainerID
			if err := a.saveState(next); err != nil {
				// Only the recorded container ID is stale; status asks
				// the runtime anyway.
				a.log.Warn("recording container ID", "app", app, "error", err)
			}
		}
		a.dropIntent(app)
		return proto.Deployed{Generation: g.Number, ContainerID: r.ContainerID, Changed: r.Changed}, nil
	}
	g.ContainerID = r.ContainerID
	next.Generations = append(next.Generations, g)
	next.Current = g.Number
	a.prune(next)
	if err := a.saveState(next); err != nil {
		// Not recorded, so it must not run: the previous generation goes
		// back, and the client hears the deploy failed.
		progress("rollback", fmt.Sprintf("recording generation %d failed (%v); restoring generation %d", g.Number, err, st.Current))
		if rerr := a.abandon(ctx, app); rerr != nil {
			return res, withCode(proto.CodeDeploy, fmt.Errorf("%w; restoring generation %d failed too: %v (nd-agent retries)", err, st.Current, rerr))
		}
		return res, withCode(proto.CodeDeploy, fmt.Errorf("%w; generation %d runs again", err, st.Current))
	}
	a.crashPoint("committed")
	a.retain(ctx, next)
	a.retainAfterDrain(app)
	a.crashPoint("retained")
	a.dropIntent(app)
	return proto.Deployed{Generation: g.Number, ContainerID: r.ContainerID, Changed: true}, nil
}

// DrainWaiter is a Runtime whose deploys let the replaced container drain
// after they return; WaitDrain returns once app's is gone.
type DrainWaiter interface {
	WaitDrain(ctx context.Context, app string) error
}

// retainAfterDrain runs retain again, under the app's lock, once the
// container the deploy replaced has drained: the image it ran could not go
// while it was in use.
func (a *Agent) retainAfterDrain(app string) {
	dw, ok := a.cfg.Runtime.(DrainWaiter)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := dw.WaitDrain(ctx, app); err != nil {
			return
		}
		unlock, err := a.lockApp(ctx, app, func() {})
		if err != nil {
			return
		}
		defer unlock()
		if st, err := a.loadState(app); err == nil {
			a.retain(ctx, st)
		}
	}()
}

// run makes the runtime run generation g of app.
func (a *Agent) run(ctx context.Context, app string, g proto.Generation, m *manifest.Manifest, closure, envFiles []string, force bool, release string, progress func(stage, msg string)) (DeployResult, error) {
	if a.cfg.Runtime == nil {
		return DeployResult{}, codef(proto.CodeDeploy, "nd-agent has no container runtime configured")
	}
	// The one shape the deploy takes from here down to Docker.
	spec := deployspec.Spec{App: app, Package: g.Package, Manifest: m, Closure: closure, Generation: g.Number,
		Force: force, EnvFiles: envFiles, Progress: progress, Release: release}
	if g.Mode == manifest.ModeImage {
		ir, ok := a.cfg.Runtime.(ImageRuntime)
		if !ok {
			return DeployResult{}, codef(proto.CodeUnsupported, "the container runtime of this nd-agent cannot load images")
		}
		spec.ImageID = g.ImageID
		return ir.DeployImage(ctx, spec)
	}
	return a.cfg.Runtime.Deploy(ctx, spec)
}

// abandon undoes a release that failed before its commit: reconcile puts
// back the generation state.json names (usually the runtime has done so
// already, and this only checks it) and drops what the release added. If
// that fails, the intent stays and the repair loop finishes the job.
func (a *Agent) abandon(ctx context.Context, app string) error {
	if err := a.reconcileLocked(context.WithoutCancel(ctx), app, false); err != nil {
		a.log.Warn("repair after a failed deploy failed; retrying later", "app", app, "error", err)
		a.kickRepair()
		return err
	}
	return nil
}

// generationManifest loads the manifest of generation g of app: from the
// store for host-store generations, from the state directory for image mode.
func (a *Agent) generationManifest(ctx context.Context, app string, g proto.Generation) (*manifest.Manifest, error) {
	if g.Mode == manifest.ModeImage {
		return a.ImageManifest(app, g.Package)
	}
	if err := a.requireNix(); err != nil {
		return nil, err
	}
	valid, err := a.cfg.Store.QueryValid(ctx, []string{g.Package})
	if err != nil {
		return nil, err
	}
	if !valid[g.Package] {
		return nil, codef(proto.CodeNotFound, "the package of %s generation %d (%s) is no longer in the store of this host", app, g.Number, g.Package)
	}
	m, err := manifest.Load(a.cfg.Store.RealPath(g.Package))
	if err != nil {
		return nil, fmt.Errorf("loading deploy package of %s generation %d: %w", app, g.Number, err)
	}
	return m, nil
}

// retain makes what the host holds for app match the generations st keeps,
// the only place that decides it: GC roots of kept host-store generations,
// saved manifests and images (and image blobs) of kept image-mode
// generations, secrets of kept generations. Everything else of the app goes (it is scanned, not
// remembered, so leftovers of interrupted releases go too). Best effort:
// what fails stays for the next release or nd-agent check.
func (a *Agent) retain(ctx context.Context, st *appState) {
	roots := map[string]bool{}
	manifests := map[string]bool{}
	for _, g := range st.Generations {
		if g.Mode == manifest.ModeImage {
			manifests[filepath.Base(g.Package)+".json"] = true
		} else {
			roots[strconv.Itoa(g.Number)] = true
		}
	}
	dir := filepath.Join(a.cfg.GCRoots, st.App)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !roots[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				a.log.Warn("removing GC root", "app", st.App, "root", e.Name(), "error", err)
			}
		}
	}
	mdir := filepath.Dir(a.imageManifestPath(st.App, "x"))
	ents, _ = os.ReadDir(mdir)
	for _, e := range ents {
		if !manifests[e.Name()] {
			os.Remove(filepath.Join(mdir, e.Name()))
		}
	}
	a.pruneSecrets(st)
	a.pruneImages(ctx, st)
	// The image store's blobs follow the kept generations of every app.
	a.collectBlobs()
}

// pruneImages removes st.App's images but those of its kept image-mode
// generations and those a container uses. Images of host-store generations
// are not kept: they are made again from the store in a moment.
func (a *Agent) pruneImages(ctx context.Context, st *appState) {
	ir, ok := a.cfg.Runtime.(ImageRuntime)
	if !ok {
		return
	}
	var keep []string
	for _, g := range st.Generations {
		if g.Mode == manifest.ModeImage {
			keep = append(keep, g.ImageID)
		}
	}
	if err := ir.PruneImages(ctx, st.App, keep); err != nil && !errors.Is(err, context.Canceled) {
		a.log.Warn("pruning images failed", "app", st.App, "error", err)
	}
}
