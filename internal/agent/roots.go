package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nd-project/nd/internal/manifest"
)

// GC roots of the agent, under Config.GCRoots:
//
//	_sessions/<session>/<hash>-<name> -> /nix/store/<hash>-<name>
//	    a push in progress: paths it found present or imported. Created
//	    before nix-store --import can register a path (see
//	    nixstore.ExportOptions.BeforeCommit), so no GC can run between the
//	    import and the root. Removed when the session deploys, when its
//	    import runs out of space, after SessionTTL, or by nd-agent check
//	    --repair.
//	<app>/<generation> -> /nix/store/<package>
//	    a recorded generation; created before the container starts,
//	    removed by retain (release.go) once state.json no longer keeps it.
//
// (manifest.SessionRootsDir is no app's name; earlier agents used
// "tmp", which is app "tmp"'s; see sweepSessions.)
//
// Nix's collector follows these symlinks (it scans gcroots recursively),
// and a root naming a path that is not (yet) valid is ignored.

// addRoot makes link point to target, atomically replacing what was there.
func addRoot(link, target string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return fmt.Errorf("adding GC root: %w", err)
	}
	tmp := link + ".tmp" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("adding GC root: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("adding GC root: %w", err)
	}
	return nil
}

func (a *Agent) sessionRoot(session, path string) string {
	return filepath.Join(a.cfg.GCRoots, manifest.SessionRootsDir, session, filepath.Base(path))
}

func (a *Agent) generationRoot(app string, gen int) string {
	return filepath.Join(a.cfg.GCRoots, app, strconv.Itoa(gen))
}
