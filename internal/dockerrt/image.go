package dockerrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"

	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
)

// Images reach dockerd only by `docker pull` from the agent's loopback
// registry (internal/imagereg), never by `docker load`: a pull fetches just
// the blobs the daemon lacks and names the image as served, on Docker's
// classic image store and on its containerd image store alike. An nd image
// then has one of two IDs in dockerd: its config digest (classic store) or
// its manifest digest (containerd store). Both are known before the pull,
// so a pulled image is checked to be the one announced, whatever the store.

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
	return r.EnsureBuilt(ctx, img)
}

// PrepareImage makes sure dockerd holds the metadata-only image of deploy
// package pkg whose layer is the tar layer (a client's, see
// proto.PrepareImage; the config is made here from m) and returns its ID.
func (r *Runtime) PrepareImage(ctx context.Context, m *manifest.Manifest, pkg string, layer []byte) (string, error) {
	img, err := image.FromLayers(m, pkg, []*image.Layer{image.TarLayer(layer)}, image.Options{StoreRoot: r.opts.StoreRoot})
	if err != nil {
		return "", fmt.Errorf("building image of %s: %w", pkg, err)
	}
	return r.EnsureBuilt(ctx, img)
}

// EnsureBuilt is EnsureImage for an image built by the caller: the
// registry serves its blobs from memory while dockerd pulls it.
func (r *Runtime) EnsureBuilt(ctx context.Context, img *image.Image) (string, error) {
	mb, mdigest, err := img.Manifest()
	if err != nil {
		return "", err
	}
	if id, err := r.present(ctx, img.ID, mdigest); err != nil {
		return "", err
	} else if id != "" {
		if err := r.c.ImageTag(ctx, id, img.RepoTag); err != nil {
			return "", fmt.Errorf("tagging image %s as %s: %w", id, img.RepoTag, err)
		}
		r.log.Debug("image present", "id", id, "tag", img.RepoTag)
		return id, nil
	}
	reg := r.opts.Registry
	if reg == nil {
		return "", errors.New("loading image: no image registry configured")
	}
	// Served from memory: host-store mode's metadata images are small and
	// made again whenever needed, so they take no room in the state
	// directory.
	st := reg.Store()
	_, release := st.Hold(img.Config)
	defer release()
	for _, l := range img.Layers {
		var buf bytes.Buffer
		if _, err := l.WriteTo(&buf); err != nil {
			return "", fmt.Errorf("making layer of %s: %w", img.RepoTag, err)
		}
		_, release := st.Hold(buf.Bytes())
		defer release()
	}
	repo, _, _ := strings.Cut(img.RepoTag, ":")
	ref, err := reg.PutManifest(repo, mb, image.MediaTypeManifest)
	if err != nil {
		return "", err
	}
	id, err := r.PullImage(ctx, ref, img.RepoTag, []string{img.ID, mdigest})
	if err != nil {
		return "", err
	}
	r.log.Info("image pulled", "id", id, "tag", img.RepoTag)
	return id, nil
}

// present returns the ID under which dockerd holds an image named by one
// of ids, or "" if it holds none.
func (r *Runtime) present(ctx context.Context, ids ...string) (string, error) {
	for _, id := range ids {
		ii, err := r.c.ImageInspect(ctx, id)
		if err == nil && slices.Contains(ids, ii.ID) {
			return ii.ID, nil
		}
		if err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("inspecting image %s: %w", id, err)
		}
	}
	return "", nil
}

// PullImage has dockerd pull ref (an image of the agent's registry, by
// digest), tags it repoTag, drops the registry's name again (its port
// changes with each agent start) and returns dockerd's ID of the image,
// which must be one of accept (its config or manifest digest).
func (r *Runtime) PullImage(ctx context.Context, ref, repoTag string, accept []string) (string, error) {
	rc, err := r.c.ImagePull(ctx, ref, dimage.PullOptions{})
	if err != nil {
		return "", fmt.Errorf("pulling image %s: %w", ref, err)
	}
	msgs, err := readJSONMessages(rc)
	rc.Close()
	if err != nil {
		return "", fmt.Errorf("pulling image %s: %w", ref, err)
	}
	r.log.Debug("image pull", "ref", ref, "messages", msgs)
	if err := r.c.ImageTag(ctx, ref, repoTag); err != nil {
		return "", fmt.Errorf("tagging image %s as %s: %w", ref, repoTag, err)
	}
	ii, err := r.c.ImageInspect(ctx, repoTag)
	if err != nil {
		return "", fmt.Errorf("inspecting pulled image %s: %w", repoTag, err)
	}
	if _, err := r.c.ImageRemove(ctx, ref, dimage.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Warn("removing the registry's name of a pulled image", "ref", ref, "error", err)
	}
	if !slices.Contains(accept, ii.ID) {
		return "", fmt.Errorf("pulled image %s is %s, not one of %v", repoTag, ii.ID, accept)
	}
	return ii.ID, nil
}

// readJSONMessages reads a pull's progress stream and fails with the
// daemon's error if it reports one.
func readJSONMessages(r io.Reader) ([]string, error) {
	dec := json.NewDecoder(r)
	var out []string
	for {
		var msg struct {
			Status      string `json:"status"`
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("reading the daemon's answer: %w", err)
		}
		if msg.Error != "" {
			return out, errors.New(msg.Error)
		}
		if s := strings.TrimSpace(msg.Status + msg.Stream); s != "" && len(out) < 200 {
			out = append(out, s)
		}
	}
}

// CheckImage verifies dockerd holds image id (e.g. after PullImage in image
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
