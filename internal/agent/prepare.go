package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// ImagePreparer is optionally implemented by a Runtime: host-store mode's
// metadata image made ahead of its deploy (proto.PrepareImage), so that
// dockerd's pull, which waits for the disk to take what the push wrote,
// happens while the closure is still arriving.
type ImagePreparer interface {
	// PrepareImage has dockerd hold the metadata image of package pkg
	// whose one layer is the tar layer (the config is made from m) and
	// returns its ID.
	PrepareImage(ctx context.Context, m *manifest.Manifest, pkg string, layer []byte) (string, error)
	// RemoveImageIfUnused removes app's image id unless a container
	// uses it.
	RemoveImageIfUnused(ctx context.Context, app, id string)
}

// preparedImage is an image a session prepared: its end removes it unless
// a container runs it (the deploy's, normally).
type preparedImage struct{ app, id string }

// prepareTimeout bounds a prepare: it is only a head start.
const prepareTimeout = 2 * time.Minute

func (a *Agent) handlePrepareImage(ctx context.Context, c *call) error {
	var req proto.PrepareImage
	if err := c.decode(&req); err != nil {
		return err
	}
	app := c.r.PathValue("app")
	if !manifest.ValidName(app) {
		return codef(proto.CodeBadRequest, "bad app name %q", app)
	}
	if err := nixstore.ValidStorePath(req.Package); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkSession(req.Session); err != nil {
		return err
	}
	if req.Session == "" {
		// The session's end is what removes an image no deploy ran.
		return codef(proto.CodeBadRequest, "preparing an image needs the push's session")
	}
	if len(req.Layer) > proto.MaxPrepareLayer {
		return codef(proto.CodeBadRequest, "metadata layer of %d bytes, at most %d", len(req.Layer), proto.MaxPrepareLayer)
	}
	m, err := manifest.Parse(req.Manifest)
	if err != nil {
		return withCode(proto.CodeBadRequest, fmt.Errorf("manifest of %s: %w", req.Package, err))
	}
	if m.Name != app {
		return codef(proto.CodeBadRequest, "deploy package %s is app %q, not %q", req.Package, m.Name, app)
	}
	pr, ok := a.cfg.Runtime.(ImagePreparer)
	if !ok {
		return codef(proto.CodeUnsupported, "the container runtime of this nd-agent cannot prepare images")
	}
	if err := a.requireDocker(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	start := a.cfg.Now()
	// The session holds the app from before the image exists, so that the
	// sweep of leftovers (leftovers.go) never takes it for one.
	s := a.session(req.Session)
	s.mu.Lock()
	s.preparing[app]++
	s.mu.Unlock()
	id, err := pr.PrepareImage(ctx, m, req.Package, req.Layer)
	s.mu.Lock()
	if s.preparing[app]--; s.preparing[app] == 0 {
		delete(s.preparing, app)
	}
	if err == nil {
		s.prepared = append(s.prepared, preparedImage{app: app, id: id})
	}
	s.mu.Unlock()
	if err != nil {
		return withCode(proto.CodeDeploy, fmt.Errorf("preparing the image of %s: %w", req.Package, err))
	}
	a.log.Info("image prepared", "app", app, "package", req.Package, "image", id,
		"took", a.cfg.Now().Sub(start).Round(time.Millisecond))
	a.crashPoint("image prepared")
	return c.reply(&proto.PreparedImage{ImageID: id})
}

// holdsImages reports whether a live session prepares or prepared an
// image of app that its end has not yet dealt with.
func (a *Agent) holdsImages(app string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.sessions {
		s.mu.Lock()
		held := s.preparing[app] > 0 || slices.ContainsFunc(s.prepared, func(p preparedImage) bool { return p.app == app })
		s.mu.Unlock()
		if held {
			return true
		}
	}
	return false
}

// dropPrepared removes, in the background, the prepared images that no
// container runs. Under each app's lock: a deploy that is about to run one
// has its container by then.
func (a *Agent) dropPrepared(imgs []preparedImage) {
	pr, ok := a.cfg.Runtime.(ImagePreparer)
	if !ok || len(imgs) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
		defer cancel()
		for _, img := range imgs {
			unlock, err := a.lockApp(ctx, img.app, func() {})
			if err != nil {
				return
			}
			pr.RemoveImageIfUnused(ctx, img.app, img.id)
			unlock()
		}
	}()
}

// takePrepared returns the images s prepared for app ("": any app) and
// forgets them.
func (s *session) takePrepared(app string) []preparedImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var took, kept []preparedImage
	for _, img := range s.prepared {
		if app == "" || img.app == app {
			took = append(took, img)
		} else {
			kept = append(kept, img)
		}
	}
	s.prepared = kept
	return took
}

// dropFailedPrepared removes the images session prepared for app once
// app's deploy failed: the session lives on (a retry finds its paths
// rooted), but nothing of the failed deploy is left in dockerd. A retry is
// another push, with a session and a prepare of its own.
func (a *Agent) dropFailedPrepared(session, app string) {
	a.mu.Lock()
	s := a.sessions[session]
	a.mu.Unlock()
	if s != nil {
		a.dropPrepared(s.takePrepared(app))
	}
}
