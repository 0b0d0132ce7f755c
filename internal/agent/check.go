package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// Check verifies, for every app, that state.json, the intent record, GC
// roots, store paths, images and the container agree, and with repair makes
// them agree. Each app is checked under its lock, so a check never races a
// deploy.
func (a *Agent) Check(ctx context.Context, repair bool) proto.CheckReport {
	rep := proto.CheckReport{Findings: []proto.Finding{}}
	apps := a.listApps()
	// Roots of apps with no state directory at all.
	ents, _ := os.ReadDir(a.cfg.GCRoots)
	for _, e := range ents {
		// (The legacy sessions directory is app "tmp"'s only if it has state.)
		if e.IsDir() && e.Name() != manifest.LegacySessionRootsDir && manifest.ValidName(e.Name()) && !slices.Contains(apps, e.Name()) {
			apps = append(apps, e.Name())
		}
	}
	slices.Sort(apps)
	for _, app := range apps {
		rep.Apps++
		unlock, err := a.lockApp(ctx, app, func() {})
		if err != nil {
			rep.Findings = append(rep.Findings, proto.Finding{App: app, Problem: err.Error()})
			continue
		}
		rep.Findings = append(rep.Findings, a.checkApp(ctx, app, repair)...)
		unlock()
	}
	rep.Findings = append(rep.Findings, a.checkPins(repair)...)
	rep.Findings = append(rep.Findings, a.checkRestoreLeftovers(repair)...)
	return rep
}

// checkRestoreLeftovers finds the temporary directories of imports cut off
// by the agent's death (see nixstore.RestoreLeftovers) and, with repair,
// removes them. Imports running now are never touched.
func (a *Agent) checkRestoreLeftovers(repair bool) []proto.Finding {
	found, err := a.cfg.Store.RestoreLeftovers(repair)
	var fs []proto.Finding
	for _, p := range found {
		f := proto.Finding{Problem: "an interrupted import left " + p}
		if repair {
			f.Repaired = "removed it"
		}
		fs = append(fs, f)
	}
	if err != nil {
		fs = append(fs, proto.Finding{Problem: fmt.Sprintf("cleaning up interrupted imports: %v", err)})
	}
	return fs
}

func (a *Agent) checkApp(ctx context.Context, app string, repair bool) []proto.Finding {
	var fs []proto.Finding
	add := func(problem, repaired string) {
		fs = append(fs, proto.Finding{App: app, Problem: problem, Repaired: repaired})
	}
	fix := func(problem string, err error, repaired string) {
		if err != nil {
			add(fmt.Sprintf("%s; repairing it failed: %v", problem, err), "")
			return
		}
		add(problem, repaired)
	}

	if _, err := os.Stat(filepath.Join(a.appsDir(), app)); errors.Is(err, os.ErrNotExist) {
		// GC roots without state: no generation of it is recorded.
		_, cerr := a.inspect(ctx, app)
		switch {
		case !errors.Is(cerr, ErrNoContainer):
			add(fmt.Sprintf("GC roots in %s but no state, and a container (or the runtime cannot say)", filepath.Join(a.cfg.GCRoots, app)), "")
		case repair:
			err := os.RemoveAll(filepath.Join(a.cfg.GCRoots, app))
			fix(fmt.Sprintf("GC roots in %s of an app with no state and no container", filepath.Join(a.cfg.GCRoots, app)), err, "removed them")
		default:
			add(fmt.Sprintf("GC roots in %s of an app with no state and no container", filepath.Join(a.cfg.GCRoots, app)), "")
		}
		return fs
	}

	st, err := a.loadState(app)
	var se *StateError
	if errors.As(err, &se) {
		if !repair {
			add(se.Error(), "")
			return fs
		}
		st, err = a.rebuildState(ctx, app)
		if err != nil {
			add(se.Error(), "")
			add(fmt.Sprintf("rebuilding state: %v", err), "")
			return fs
		}
		add(fmt.Sprintf("%s was unreadable (%v)", se.File, se.Err), fmt.Sprintf("rebuilt it from the GC roots, saved manifests and container: generations %s, current %d; the old file is %s.corrupt", genList(st), st.Current, se.File))
	} else if err != nil {
		add(err.Error(), "")
		return fs
	}

	if in, _ := a.readIntent(app); in != nil {
		p := fmt.Sprintf("an interrupted %s of generation %d (%s)", in.Op, in.Generation, a.intentPath(app))
		if repair {
			err := a.reconcileLocked(ctx, app, true)
			fix(p, err, fmt.Sprintf("finished it: generation %d runs", st.Current))
			if err == nil {
				st, _ = a.loadState(app)
			}
		} else {
			add(p, "")
		}
	}
	if st == nil {
		return fs
	}

	// Every kept generation can run again.
	var drop []int
	for _, g := range st.Generations {
		if why := a.checkGeneration(ctx, app, g); why != "" {
			p := fmt.Sprintf("generation %d (%s): %s", g.Number, g.Package, why)
			switch {
			case g.Number == st.Current:
				add(p+"; the current generation cannot be repaired here: push the app again", "")
			case repair:
				drop = append(drop, g.Number)
				add(p, "forgot the generation (it cannot be rolled back to)")
			default:
				add(p, "")
			}
			continue
		}
		if g.Mode != manifest.ModeImage {
			root := a.generationRoot(app, g.Number)
			if target, err := os.Readlink(root); err != nil || target != g.Package {
				p := fmt.Sprintf("generation %d: GC root %s missing or wrong", g.Number, root)
				if repair {
					fix(p, addRoot(root, g.Package), "re-added it")
				} else {
					add(p, "")
				}
			}
		}
	}
	if len(drop) > 0 {
		st.Generations = slices.DeleteFunc(st.Generations, func(g proto.Generation) bool { return slices.Contains(drop, g.Number) })
		if err := a.saveState(st); err != nil {
			add(err.Error(), "")
		}
	}

	// Nothing is held for generations no longer kept.
	if leaked := a.leakedRoots(st); len(leaked) > 0 {
		p := fmt.Sprintf("GC roots of generations no longer kept: %s", strings.Join(leaked, ", "))
		if repair {
			a.retain(ctx, st)
			add(p, "removed them")
		} else {
			add(p, "")
		}
	}

	// The container runs the current generation.
	if st.Current != 0 && a.needsRepair(ctx, app) {
		cs, err := a.inspect(ctx, app)
		p := fmt.Sprintf("the container does not run generation %d", st.Current)
		if err == nil {
			p = fmt.Sprintf("the container is %s, generation %d; state says generation %d", cs.State, cs.Generation, st.Current)
		} else if errors.Is(err, ErrNoContainer) {
			p = fmt.Sprintf("no container, state says generation %d", st.Current)
		}
		if repair {
			fix(p, a.reconcileLocked(ctx, app, true), fmt.Sprintf("generation %d runs", st.Current))
		} else {
			add(p, "")
		}
	}
	return fs
}

// checkGeneration says why generation g cannot run again, or "".
func (a *Agent) checkGeneration(ctx context.Context, app string, g proto.Generation) string {
	if g.Mode == manifest.ModeImage {
		if _, err := a.ImageManifest(app, g.Package); err != nil {
			return "its saved manifest is missing: " + err.Error()
		}
		if ir, ok := a.cfg.Runtime.(ImageRuntime); ok {
			if err := ir.CheckImage(ctx, g.ImageID, app, g.Package); err != nil {
				return fmt.Sprintf("its image %.19s is not in dockerd: %v", g.ImageID, err)
			}
		}
		return ""
	}
	if err := a.requireNix(); err != nil {
		return "a host-store generation on a host without usable Nix"
	}
	valid, err := a.cfg.Store.QueryValid(ctx, []string{g.Package})
	if err != nil {
		return "asking the store: " + err.Error()
	}
	if !valid[g.Package] {
		return "its package is not in the store"
	}
	return ""
}

func (a *Agent) leakedRoots(st *appState) []string {
	kept := map[string]bool{}
	for _, g := range st.Generations {
		if g.Mode != manifest.ModeImage {
			kept[strconv.Itoa(g.Number)] = true
		}
	}
	var leaked []string
	ents, _ := os.ReadDir(filepath.Join(a.cfg.GCRoots, st.App))
	for _, e := range ents {
		if !kept[e.Name()] {
			leaked = append(leaked, e.Name())
		}
	}
	return leaked
}

func (a *Agent) inspect(ctx context.Context, app string) (*proto.ContainerStatus, error) {
	op, ok := a.cfg.Runtime.(Operator)
	if !ok {
		return nil, errors.New("no runtime that can inspect containers")
	}
	return op.Inspect(ctx, app)
}

// rebuildState makes a state from what the host still has: a host-store
// generation per GC root, and the container's generation (with its image,
// for image mode). The unreadable file is kept as state.json.corrupt.
func (a *Agent) rebuildState(ctx context.Context, app string) (*appState, error) {
	st := &appState{Version: stateVersion, App: app}
	dir := filepath.Join(a.cfg.GCRoots, app)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 0 {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		g := proto.Generation{Number: n, Package: target}
		if fi, err := e.Info(); err == nil {
			g.DeployedAt = fi.ModTime().UTC()
		}
		st.Generations = append(st.Generations, g)
	}
	if cs, err := a.inspect(ctx, app); err == nil && cs.Generation > 0 {
		found := false
		for i := range st.Generations {
			if st.Generations[i].Number == cs.Generation {
				found = true
				st.Generations[i].ContainerID = cs.ID
			}
		}
		if !found {
			g := proto.Generation{Number: cs.Generation, Package: cs.Package, ContainerID: cs.ID}
			if cs.Mode == manifest.ModeImage {
				g.Mode, g.ImageID = manifest.ModeImage, cs.Image
			}
			st.Generations = append(st.Generations, g)
		}
		st.Current = cs.Generation
	}
	slices.SortFunc(st.Generations, func(x, y proto.Generation) int { return x.Number - y.Number })
	if st.Current == 0 && len(st.Generations) > 0 {
		st.Current = st.Generations[len(st.Generations)-1].Number
	}
	p := a.statePath(app)
	if err := os.Rename(p, p+".corrupt"); err != nil {
		return nil, fmt.Errorf("keeping the unreadable %s: %w", p, err)
	}
	if err := a.saveState(st); err != nil {
		return nil, err
	}
	return st, nil
}

// checkPins reports the temporary GC roots of pushes that never deployed;
// with repair it releases those of pushes not in progress now.
func (a *Agent) checkPins(repair bool) []proto.Finding {
	var fs []proto.Finding
	for _, d := range []string{manifest.SessionRootsDir, manifest.LegacySessionRootsDir} {
		fs = append(fs, a.checkPinsIn(filepath.Join(a.cfg.GCRoots, d), repair)...)
	}
	return fs
}

func (a *Agent) checkPinsIn(dir string, repair bool) []proto.Finding {
	ents, _ := os.ReadDir(dir)
	var fs []proto.Finding
	for _, e := range ents {
		if !e.IsDir() {
			// The legacy directory is also app "tmp"'s roots.
			continue
		}
		a.mu.Lock()
		_, live := a.sessions[e.Name()]
		a.mu.Unlock()
		if live {
			continue
		}
		paths, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		p := fmt.Sprintf("%d store paths pinned by an unfinished push (%s)", len(paths), filepath.Join(dir, e.Name()))
		if repair {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				fs = append(fs, proto.Finding{Problem: fmt.Sprintf("%s; releasing them failed: %v", p, err)})
			} else {
				fs = append(fs, proto.Finding{Problem: p, Repaired: "released them (the next GC may collect them)"})
			}
		} else {
			fs = append(fs, proto.Finding{Problem: p})
		}
	}
	return fs
}

func genList(st *appState) string {
	var ns []string
	for _, g := range st.Generations {
		ns = append(ns, strconv.Itoa(g.Number))
	}
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}

func (a *Agent) handleCheck(ctx context.Context, c *call) error {
	var req proto.Check
	if err := c.decode(&req); err != nil {
		return err
	}
	rep := a.Check(ctx, req.Repair)
	return c.reply(&rep)
}
