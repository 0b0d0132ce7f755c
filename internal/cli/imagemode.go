package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nd-project/nd/internal/agentclient"
	"github.com/nd-project/nd/internal/countio"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// imageBuild builds a package's layered image once per run, for every host
// that needs it.
type imageBuild struct {
	once sync.Once
	img  *image.Image
	err  error
}

func (b *imageBuild) get(ctx context.Context, env *Env, pkg *manifest.Package) (*image.Image, error) {
	b.once.Do(func() {
		b.img, b.err = buildLayeredImage(ctx, env, pkg, "")
	})
	return b.img, b.err
}

// layerCache is where nd-push remembers store layers' digests, so a
// rebuild hashes only the layers whose paths are new.
func layerCache() image.DiffIDCache {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil
	}
	return image.DirCache(filepath.Join(dir, "nd", "layers"))
}

// buildLayeredImage makes the full layered image of pkg from its closure in
// the local store; no Docker is needed. With base (a `docker save`
// archive), the image builds on its layers and leaves out every store path
// the base already holds.
func buildLayeredImage(ctx context.Context, env *Env, p *manifest.Package, base string) (*image.Image, error) {
	start := time.Now()
	pkg := p.Path
	c, err := image.QueryClosure(ctx, &nixstore.Store{}, pkg)
	if err != nil {
		return nil, fmt.Errorf("building image of %s: %w", pkg, err)
	}
	opts := image.Options{}
	if cache := layerCache(); cache != nil {
		opts.Cache = cache
	}
	if base != "" {
		b, err := image.ReadDockerArchive(base)
		if err != nil {
			return nil, err
		}
		held, err := b.StorePaths()
		if err != nil {
			return nil, err
		}
		if held[pkg] {
			return nil, fmt.Errorf("building image of %s: the base image already holds the package itself", pkg)
		}
		n := len(c)
		for p := range c {
			opts.Closure = append(opts.Closure, p) // /etc may be in a path the base holds
		}
		c = c.Without(held)
		env.Log.Debug("base image", "file", base, "layers", len(b.Layers), "storePaths", len(held), "closureLeft", len(c), "closure", n)
		opts.Base = b
	}
	img, err := image.Layered(p.Manifest, pkg, c, opts)
	if err != nil {
		return nil, err
	}
	env.Log.Debug("layered image", "id", img.ID, "layers", len(img.Layers), "paths", len(c), "took", time.Since(start))
	return img, nil
}

// imageTransfer deploys the package as a full layered image (hosts without
// Nix, or -b): it asks which layer blobs the host's image store lacks and
// sends those, zstd-compressed on one stream; the agent checks and stores
// them, has its dockerd pull the image from its loopback registry and
// deploys it.
type imageTransfer struct{ r *pushRun }

func (imageTransfer) mode() string { return manifest.ModeImage }

func (t imageTransfer) push(ctx context.Context, h *host, res *pushResult) error {
	img, err := t.r.image.get(ctx, t.r.env, t.r.pkg)
	if err != nil {
		return err
	}
	err = t.send(ctx, h, img, res)
	if agentclient.IsCode(err, proto.CodeLayersGone) {
		// Layers the host had went away meanwhile: ask once more.
		t.r.env.Log.Info("layers gone on the host; asking again", "host", h.name)
		*res = pushResult{Host: res.Host, Mode: res.Mode}
		err = t.send(ctx, h, img, res)
	}
	return err
}

func (t imageTransfer) send(ctx context.Context, h *host, img *image.Image, res *pushResult) error {
	r := t.r
	missing, err := h.agent.QueryBlobs(ctx, img.DiffIDs())
	if err != nil {
		return fmt.Errorf("asking which layers %s has: %w", h.name, err)
	}
	var total int64
	for _, d := range missing {
		l := img.LayerByDigest(d)
		total += l.Size
		res.Paths += len(l.Paths)
	}
	r.rep.info(h.name, fmt.Sprintf("image %.19s: %d of %d layers to send (%s)", img.ID, len(missing), len(img.Layers), humanBytes(total)))
	pr := r.rep.transfer(h.name, fmt.Sprintf("%d layers", len(missing)), total)
	app := r.pkg.Manifest.Name
	if err := uploadSecrets(ctx, h, app, r.secrets); err != nil {
		return err
	}
	dep, err := h.agent.DeployImage(ctx, proto.DeployImage{
		App: app, Package: r.pkg.Path, PushedBy: pushedBy(), Force: r.o.Force,
		ImageID: img.ID, RepoTag: img.RepoTag, Config: img.Config, Layers: layerBlobs(img), Send: missing,
		Manifest: r.pkg.JSON,
		Secrets:  r.secrets.Hash(),
	}, agentclient.DeployImageOptions{
		Wire:     func(n int64) { res.Sent = n; pr.wire(n) },
		Progress: func(p proto.Progress) { r.stage(h.name, p) },
	}, func(w io.Writer) error {
		return img.WriteLayers(&countio.Writer{W: w, OnWrite: pr.bytes}, missing)
	})
	pr.done()
	if err != nil {
		return err
	}
	res.Generation, res.Changed = dep.Generation, dep.Changed
	return nil
}

// layerBlobs lists img's layers as the protocol names them.
func layerBlobs(img *image.Image) []proto.Blob {
	out := make([]proto.Blob, len(img.Layers))
	for i, l := range img.Layers {
		out[i] = proto.Blob{Digest: l.DiffID, Size: l.Size}
	}
	return out
}
