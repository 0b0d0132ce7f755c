package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nd-project/nd/internal/manifest"
)

// An intent record, StateDir/apps/<app>/intent.json, exists while a release
// (release.go) of the app is under way. It is written (atomically, synced)
// before anything on the host changes and removed when the release is done
// or undone. Finding one means a release was interrupted — the agent was
// killed, the host rebooted, dockerd went away — and reconcile finishes it:
// the app runs the generation state.json names, which is the new one only if
// the release got as far as its commit.

const intentVersion = 1

// Ops of intent records.
const (
	intentDeploy      = "deploy"
	intentDeployImage = "deploy-image"
	intentRollback    = "rollback"
)

type intent struct {
	Version    int       `json:"version"`
	Op         string    `json:"op"`
	App        string    `json:"app"`
	Generation int       `json:"generation"` // the generation being made (or re-run)
	Previous   int       `json:"previous"`   // current before; 0: none
	Package    string    `json:"package"`
	ImageID    string    `json:"imageID,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
}

// release names the release in is the record of, for what it creates
// outside the agent's state (deployspec.Spec.Release); "" for an unreadable
// record.
func (in *intent) release() string {
	if in.StartedAt.IsZero() {
		return ""
	}
	return in.StartedAt.UTC().Format(time.RFC3339Nano)
}

// ReleaseVolumeRemover is optionally implemented by a Runtime: it removes
// the unused volumes a release created (deployspec.Spec.Release).
type ReleaseVolumeRemover interface {
	RemoveReleaseVolumes(ctx context.Context, app, release string) error
}

func (a *Agent) intentPath(app string) string {
	return filepath.Join(a.appsDir(), app, "intent.json")
}

func (a *Agent) writeIntent(in *intent) error {
	p := a.intentPath(in.App)
	data, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return stateWriteError("recording the deploy's intent", p, err)
	}
	if err := writeFileAtomic(p, append(data, '\n'), 0o600); err != nil {
		return stateWriteError("recording the deploy's intent", p, err)
	}
	return nil
}

// readIntent returns the app's intent record, nil if none. A record that
// cannot be read is returned as an intent naming no generation: reconcile
// then puts back what state.json names, which is always safe.
func (a *Agent) readIntent(app string) (*intent, error) {
	data, err := os.ReadFile(a.intentPath(app))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", a.intentPath(app), err)
	}
	in := &intent{}
	if err := json.Unmarshal(data, in); err != nil || in.Version != intentVersion {
		a.log.Warn("unreadable intent record; restoring the recorded generation", "file", a.intentPath(app), "error", err)
		return &intent{App: app, Op: "unknown"}, nil
	}
	return in, nil
}

func (a *Agent) dropIntent(app string) {
	p := a.intentPath(app)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("removing intent record", "file", p, "error", err)
		return
	}
	syncDir(filepath.Dir(p))
}

// reconcileLocked finishes an interrupted release of app, if its intent
// record says there was one (or always, with ensure): the runtime is made
// to run the generation state.json names current (or nothing, if none),
// then retain drops what the interrupted release left. The caller holds
// the app's lock.
func (a *Agent) reconcileLocked(ctx context.Context, app string, ensure bool) error {
	in, err := a.readIntent(app)
	if err != nil {
		return err
	}
	if in == nil && !ensure {
		return nil
	}
	st, err := a.loadState(app)
	if err != nil {
		return err
	}
	if in != nil {
		what := "undoing"
		if in.Generation != 0 && in.Generation == st.Current {
			what = "finishing"
		}
		a.log.Info(what+" an interrupted "+in.Op, "app", app, "generation", in.Generation, "current", st.Current)
	}
	// What the interrupted release added goes first (its GC root, saved
	// manifest, secrets), so that it goes even if the runtime cannot be
	// made to run the current generation yet.
	a.retain(ctx, st)
	log := func(stage, msg string) { a.log.Debug("repair", "app", app, "stage", stage, "message", msg) }
	if cur := st.current(); cur != nil {
		m, err := a.generationManifest(ctx, app, *cur)
		if err != nil {
			return fmt.Errorf("repairing %s: %w", app, err)
		}
		envFiles, err := a.secretFiles(app, cur.Secrets)
		if err != nil {
			return fmt.Errorf("repairing %s: %w", app, err)
		}
		var closure []string
		if cur.Mode != manifest.ModeImage {
			if closure, err = a.packageClosure(ctx, cur.Package, m); err != nil {
				return fmt.Errorf("repairing %s: %w", app, err)
			}
			if err := addRoot(a.generationRoot(app, cur.Number), cur.Package); err != nil {
				return err
			}
		}
		if _, err := a.run(ctx, app, *cur, m, closure, envFiles, false, "", log); err != nil {
			return fmt.Errorf("repairing %s: running generation %d: %w", app, cur.Number, err)
		}
	} else if op, ok := a.cfg.Runtime.(Operator); ok {
		// An interrupted first deploy: nothing of it may stay.
		if err := op.Remove(ctx, app, false); err != nil && !errors.Is(err, ErrNoContainer) {
			return fmt.Errorf("repairing %s: removing the containers of an unrecorded deploy: %w", app, err)
		}
	}
	if in != nil && in.Generation != st.Current && in.release() != "" {
		// The volumes the undone release created, once no container
		// uses them: its own failure would have removed them.
		if vr, ok := a.cfg.Runtime.(ReleaseVolumeRemover); ok {
			if err := vr.RemoveReleaseVolumes(ctx, app, in.release()); err != nil {
				return fmt.Errorf("repairing %s: %w", app, err)
			}
		}
	}
	a.retain(ctx, st)       // images the replaced containers used
	a.retainAfterDrain(app) // and the one still draining
	if in != nil {
		a.dropIntent(app)
		a.log.Info("repaired", "app", app, "generation", st.Current)
	}
	return nil
}

// reconcile takes the app's lock and reconciles it.
func (a *Agent) reconcile(ctx context.Context, app string, ensure bool) error {
	unlock, err := a.lockApp(ctx, app, func() {})
	if err != nil {
		return err
	}
	defer unlock()
	return a.reconcileLocked(ctx, app, ensure)
}

// needsRepair reports whether app has an intent record, or (when the runtime
// can say) it has no container or one of another generation. A stopped
// container of the current generation is left alone: someone stopped it
// (dockerd restarts those it stopped itself).
func (a *Agent) needsRepair(ctx context.Context, app string) bool {
	if _, err := os.Stat(a.intentPath(app)); err == nil {
		return true
	}
	st, err := a.loadState(app)
	if err != nil || st.Current == 0 {
		return false
	}
	op, ok := a.cfg.Runtime.(Operator)
	if !ok {
		return false
	}
	cs, err := op.Inspect(ctx, app)
	if errors.Is(err, ErrNoContainer) {
		return true
	}
	if err != nil {
		return false
	}
	return cs.Generation != st.Current
}

// RepairAll reconciles every app that needs it (see needsRepair). It
// returns the apps it could not repair.
func (a *Agent) RepairAll(ctx context.Context) map[string]error {
	failed := map[string]error{}
	for _, app := range a.listApps() {
		if !a.needsRepair(ctx, app) {
			continue
		}
		if err := a.reconcile(ctx, app, true); err != nil {
			failed[app] = err
		}
	}
	return failed
}

// repairLoop runs RepairAll when the agent starts and whenever kicked,
// retrying failures (dockerd not up yet after a reboot, say) with backoff,
// and, once dockerd answers, sweeps what interrupted pushes left
// (leftovers.go).
func (a *Agent) repairLoop(ctx context.Context) {
	if a.cfg.Runtime == nil {
		return
	}
	wait := time.Second
	swept := false
	for {
		pending := false
		if p, ok := a.cfg.Runtime.(Pinger); ok && p.Ping(ctx) != nil {
			pending = true
		} else {
			for app, err := range a.RepairAll(ctx) {
				a.log.Warn("repair failed; retrying", "app", app, "error", err, "in", wait)
				pending = true
			}
			if !swept {
				a.sweepLeftovers(ctx)
				swept = true
			}
		}
		if !pending {
			wait = time.Second
		}
		var timer <-chan time.Time
		if pending {
			timer = time.After(wait)
			wait = min(2*wait, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.repairKick:
		case <-timer:
		}
	}
}

// kickRepair makes the repair loop run soon.
func (a *Agent) kickRepair() {
	select {
	case a.repairKick <- struct{}{}:
	default:
	}
}

// listApps returns the apps with a state directory.
func (a *Agent) listApps() []string {
	var apps []string
	ents, _ := os.ReadDir(a.appsDir())
	for _, e := range ents {
		if e.IsDir() && manifest.ValidName(e.Name()) {
			apps = append(apps, e.Name())
		}
	}
	return apps
}
