package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/proto"
)

// Secret env files of an app (docker.environmentFiles) never enter the Nix
// store: nd-push uploads them over SFTP to
//
//	StateDir/apps/<app>/secrets/<hash>/<i>.env   (dirs 0700, files 0600)
//
// where hash is proto.SecretsHash of the files' contents in order, and names
// the set in Deploy.Secrets and Generation.Secrets. Each generation keeps the
// secrets it ran with, so a rollback restores them too. Contents are never
// logged; errors name files, not what is in them.

// secretsMinAge protects a set just uploaded for a deploy that still waits
// for the app's lock from the pruning after another deploy.
const secretsMinAge = time.Hour

// SecretsDir is where nd-push uploads the secrets of app with hash, under
// the agent's state directory stateDir.
func SecretsDir(stateDir, app, hash string) string {
	return filepath.Join(stateDir, "apps", app, "secrets", hash)
}

// secretFiles returns the env files of the set hash of app, in order,
// after checking they are complete (their contents hash to hash).
func (a *Agent) secretFiles(app, hash string) ([]string, error) {
	if hash == "" {
		return nil, nil
	}
	if !proto.ValidSecretsHash(hash) {
		return nil, codef(proto.CodeBadRequest, "bad secrets hash %q", hash)
	}
	dir := SecretsDir(a.cfg.StateDir, app, hash)
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, codef(proto.CodeNotFound, "the secret env files of %s (set %s) are not on this host: push again", app, hash)
	} else if err != nil {
		return nil, fmt.Errorf("reading secrets of %s: %w", app, err)
	}
	type file struct {
		i    int
		path string
	}
	var files []file
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".env")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || !e.Type().IsRegular() {
			continue
		}
		files = append(files, file{i, filepath.Join(dir, e.Name())})
	}
	sort.Slice(files, func(x, y int) bool { return files[x].i < files[y].i })
	var contents [][]byte
	var paths []string
	for k, f := range files {
		if f.i != k {
			return nil, codef(proto.CodeBadRequest, "secret env files of %s (set %s) are incomplete: push again", app, hash)
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, fmt.Errorf("reading secret env file %s: %w", f.path, err)
		}
		contents = append(contents, data)
		paths = append(paths, f.path)
	}
	if proto.SecretsHash(contents) != hash {
		return nil, codef(proto.CodeBadRequest, "secret env files of %s (set %s) do not match their hash (an interrupted upload?): push again", app, hash)
	}
	return paths, nil
}

// pruneSecrets removes the secret sets of st.App that no recorded
// generation uses (and that are not fresh uploads of a pending push).
func (a *Agent) pruneSecrets(st *appState) {
	a.pruneSecretsBefore(st, a.cfg.Now().Add(-secretsMinAge))
}

// pruneSecretsBefore removes the secret sets of st.App that no recorded
// generation uses and that were uploaded before t.
func (a *Agent) pruneSecretsBefore(st *appState, t time.Time) {
	root := filepath.Join(a.appsDir(), st.App, "secrets")
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	used := map[string]bool{}
	for _, g := range st.Generations {
		used[g.Secrets] = true
	}
	for _, e := range ents {
		if used[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil && !fi.ModTime().Before(t) {
			continue
		}
		a.log.Debug("removing unused secrets", "app", st.App, "set", e.Name())
		os.RemoveAll(filepath.Join(root, e.Name()))
	}
}

// forgetFailedFirst removes what a failed or refused first deploy of an app
// left — the secrets set nd-push uploaded for it, its images, a saved
// image-mode manifest, the app's then empty directories — so that such a
// deploy leaves nothing behind. An app with generations keeps everything: pruneSecrets
// decides about its sets.
func (a *Agent) forgetFailedFirst(ctx context.Context, app, secrets string) {
	if !manifest.ValidName(app) {
		return
	}
	unlock, err := a.lockApp(ctx, app, func() {})
	if err != nil {
		return
	}
	defer unlock()
	st, err := a.loadState(app)
	if err != nil || len(st.Generations) > 0 {
		return
	}
	if secrets != "" && proto.ValidSecretsHash(secrets) {
		os.RemoveAll(SecretsDir(a.cfg.StateDir, app, secrets))
	}
	a.forgetUndeployedLocked(ctx, app)
}

// forgetUndeployedLocked removes, under app's lock, what an app with no
// generation has besides its secrets sets: its images, saved image-mode
// manifests and image records, and its then empty directories.
func (a *Agent) forgetUndeployedLocked(ctx context.Context, app string) {
	// With no generation to roll back to, none of the app's images is
	// needed (one that a container uses stays).
	a.pruneImages(ctx, &appState{App: app})
	// Saved manifests and image blob records are only of image-mode
	// generations, and there is none; the blobs go with the next collection.
	os.RemoveAll(filepath.Dir(a.imageManifestPath(app, "x")))
	os.RemoveAll(filepath.Dir(a.imageRecordPath(app, "sha256:x")))
	// Only empty directories go: another push may have uploaded into them.
	os.Remove(filepath.Join(a.appsDir(), app, "secrets"))
	os.Remove(filepath.Join(a.appsDir(), app))
	os.Remove(filepath.Join(a.cfg.GCRoots, app))
}
