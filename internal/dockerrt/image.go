package dockerrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// EnsureImage makes sure dockerd holds the metadata-only image of deploy
// package pkg (host-store mode) and returns its ID. The image is content
// addressed: the same package gives the same ID, and an image already present
// is reused (only its tag is restored if missing).
func (r *Runtime) EnsureImage(ctx context.Context, m *manifest.Manifest, pkg string) (string, error) {
	return r.EnsureImageIn(ctx, m, pkg, nil)
}

// EnsureImageIn is EnsureImage reading the manifest's etc only from the
// store paths of closure (nil: any store path; never outside the store).
func (r *Runtime) EnsureImageIn(ctx context.Context, m *manifest.Manifest, pkg string, closure []string) (string, error) {
	img, err := image.Metadata(m, pkg, image.Options{StoreRoot: r.opts.StoreRoot, Closure: closure})
	if err != nil {
		return "", fmt.Errorf("building image of %s: %w", pkg, err)
	}
	return r.ensure(ctx, img)
}

// EnsureBuilt is EnsureImage for an image built by the caller.
func (r *Runtime) EnsureBuilt(ctx context.Context, img *image.Image) (string, error) {
	return r.ensure(ctx, img)
}

func (r *Runtime) ensure(ctx context.Context, img *image.Image) (string, error) {
	if _, err := r.c.ImageInspect(ctx, img.ID); err == nil {
		if err := r.c.ImageTag(ctx, img.ID, img.RepoTag); err != nil {
			return "", fmt.Errorf("tagging image %s as %s: %w", img.ID, img.RepoTag, err)
		}
		r.log.Debug("image present", "id", img.ID, "tag", img.RepoTag)
		return img.ID, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspecting image %s: %w", img.ID, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(img.WriteDockerArchive(pw, nil)) }()
	err := r.LoadImage(ctx, pr)
	pr.CloseWithError(errors.New("load finished"))
	if err != nil {
		return "", err
	}
	if _, err := r.c.ImageInspect(ctx, img.ID); err != nil {
		return "", fmt.Errorf("image %s missing after load: %w", img.ID, err)
	}
	r.log.Info("image loaded", "id", img.ID, "tag", img.RepoTag)
	return img.ID, nil
}

// LoadImage feeds a docker-archive stream to dockerd (`docker load`) and
// fails if the daemon reports an error.
func (r *Runtime) LoadImage(ctx context.Context, archive io.Reader) error {
	resp, err := r.c.ImageLoad(ctx, archive)
	if err != nil {
		return fmt.Errorf("loading image: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var loaded []string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("reading image load response: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("loading image: %s", msg.Error)
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			loaded = append(loaded, s)
		}
	}
	r.log.Debug("image load", "messages", loaded)
	return nil
}

// CheckImage verifies dockerd holds image id (e.g. after LoadImage in image
// mode) and that it is the image of app's deploy package pkg.
func (r *Runtime) CheckImage(ctx context.Context, id, app, pkg string) error {
	ii, err := r.c.ImageInspect(ctx, id)
	if err != nil {
		return fmt.Errorf("inspecting image %s: %w", id, err)
	}
	if ii.Config == nil || ii.Config.Labels[image.LabelApp] != app || ii.Config.Labels[image.LabelPackage] != pkg {
		return fmt.Errorf("image %s is not the image of %s package %s", id, app, pkg)
	}
	return nil
}

// HasLayers returns how many of the bottom layers of an image with these
// diffIDs (bottom first) dockerd already holds as a stack. A pusher need not
// send those (image.Image.SkipBottom); Docker shares layers only together with
// everything below them, so the answer is a prefix length.
func (r *Runtime) HasLayers(ctx context.Context, diffIDs []string) (int, error) {
	known, err := r.KnownChains(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range image.ChainIDs(diffIDs) {
		if !known[c] {
			break
		}
		n++
	}
	return n, nil
}

// KnownChains returns the chain IDs of every layer stack dockerd's images
// hold. A pusher leaves out each layer whose chain ID is known (see
// image.Image.WriteDockerArchive); docker load then reuses the daemon's.
func (r *Runtime) KnownChains(ctx context.Context) (map[string]bool, error) {
	imgs, err := r.c.ImageList(ctx, dimage.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	known := map[string]bool{}
	for _, s := range imgs {
		ii, err := r.c.ImageInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("inspecting image %s: %w", s.ID, err)
		}
		for _, c := range image.ChainIDs(ii.RootFS.Layers) {
			known[c] = true
		}
	}
	return known, nil
}

// RemoveImageIfUnused removes app's image id unless a container uses it
// (best effort: a failed deploy's clean-up).
func (r *Runtime) RemoveImageIfUnused(ctx context.Context, app, id string) {
	ctx = context.WithoutCancel(ctx)
	ii, err := r.c.ImageInspect(ctx, id)
	if err != nil || ii.Config == nil || ii.Config.Labels[image.LabelApp] != app {
		return
	}
	cs, err := r.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("ancestor", id))})
	if err != nil || len(cs) > 0 {
		return
	}
	if _, err := r.c.ImageRemove(ctx, id, dimage.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("removing image of a failed deploy", "image", id, "error", err)
	}
}
