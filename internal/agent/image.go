package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// ImageRuntime is what image mode needs of the container runtime besides
// Runtime: which layers dockerd has, loading an archive, and deploying a
// loaded image without the host's /nix/store. Image mode needs no Nix on the
// host.
type ImageRuntime interface {
	// HasLayers returns how many bottom layers of an image with diffIDs
	// (bottom first) dockerd already holds as a stack.
	HasLayers(ctx context.Context, diffIDs []string) (int, error)
	// LoadImage feeds a docker-archive to dockerd.
	LoadImage(ctx context.Context, archive io.Reader) error
	// CheckImage verifies dockerd holds image id of app's package pkg.
	CheckImage(ctx context.Context, id, app, pkg string) error
	// DeployImage replaces the app's container by one of image id (no
	// /nix/store mount), restoring the previous one on failure.
	DeployImage(ctx context.Context, spec DeploySpec, id string) (DeployResult, error)
	// PruneImages removes the app's images except keep and those in use.
	PruneImages(ctx context.Context, app string, keep []string) error
}

// ModeImage marks image-mode generations (proto.Generation.Mode).
const ModeImage = "image"

func (a *Agent) imageRuntime(ctx context.Context) (ImageRuntime, error) {
	ir, ok := a.cfg.Runtime.(ImageRuntime)
	if !ok {
		return nil, codef(proto.CodeUnsupported, "the container runtime of this nd-agent cannot load images")
	}
	if err := a.requireDocker(ctx); err != nil {
		return nil, err
	}
	return ir, nil
}

func (a *Agent) handleQueryLayers(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.QueryLayers
	if err := proto.Decode(env, proto.TypeQueryLayers, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if len(req.DiffIDs) > proto.MaxImageLayers {
		return codef(proto.CodeBadRequest, "%d layers, at most %d", len(req.DiffIDs), proto.MaxImageLayers)
	}
	for _, d := range req.DiffIDs {
		if !digestRE.MatchString(d) {
			return codef(proto.CodeBadRequest, "bad layer digest %q", d)
		}
	}
	ir, err := a.imageRuntime(ctx)
	if err != nil {
		return err
	}
	n, err := ir.HasLayers(ctx, req.DiffIDs)
	if err != nil {
		return fmt.Errorf("asking dockerd for layers: %w", err)
	}
	a.log.Debug("query layers", "layers", len(req.DiffIDs), "have", n)
	return c.Send(proto.TypeLayers, &proto.Layers{Have: n})
}

func (a *Agent) handleDeployImage(ctx context.Context, c *proto.Conn, env proto.Envelope) error {
	var req proto.DeployImage
	if err := proto.Decode(env, proto.TypeDeployImage, &req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if !manifest.ValidName(req.App) {
		return codef(proto.CodeBadRequest, "bad app name %q", req.App)
	}
	if err := nixstore.ValidStorePath(req.Package); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if req.Compression != proto.CompressionZstd {
		return codef(proto.CodeBadRequest, "image compression %q, want %q", req.Compression, proto.CompressionZstd)
	}
	spec := archiveSpec{ImageID: req.ImageID, RepoTag: req.RepoTag, DiffIDs: req.DiffIDs, Skip: req.Skip}
	if err := spec.check(); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	m, err := manifest.Parse(req.Manifest)
	if err != nil {
		return withCode(proto.CodeBadRequest, fmt.Errorf("manifest of %s: %w", req.Package, err))
	}
	if m.Name != req.App {
		return codef(proto.CodeBadRequest, "deploy package %s is app %q, not %q", req.Package, m.Name, req.App)
	}
	progress := a.progressTo(c)
	res, err := a.DeployImage(ctx, req, m, c.DataReader(), progress)
	if err != nil {
		a.forgetFailedFirst(ctx, req.App, req.Secrets)
		return err
	}
	return c.Send(proto.TypeDeployed, &res)
}

// DeployImage loads the zstd-compressed docker-archive read from data
// (checked on the way, see copyDockerArchive), then records and runs a new
// generation of req.App from image req.ImageID, like Deploy but without
// Nix: the generation names the package and the image, and holds no GC
// root. Images of generations no longer kept are removed.
func (a *Agent) DeployImage(ctx context.Context, req proto.DeployImage, m *manifest.Manifest, data io.Reader, progress func(stage, msg string)) (proto.Deployed, error) {
	var res proto.Deployed
	ir, err := a.imageRuntime(ctx)
	if err != nil {
		return res, err
	}
	// The lock also keeps a concurrent deploy's image pruning away from the
	// layers this one relies on.
	unlock, err := a.lockApp(ctx, req.App, func() {
		progress("waiting", "another deploy of "+req.App+" is in progress; waiting for it")
	})
	if err != nil {
		return res, withCode(proto.CodeBusy, err)
	}
	defer unlock()
	// Repair first: it may remove images, and so layers counted below.
	if err := a.reconcileLocked(ctx, req.App, false); err != nil {
		return res, withCode(proto.CodeDeploy, fmt.Errorf("repairing an interrupted deploy of %s first: %w", req.App, err))
	}
	if req.Skip > 0 {
		// The layers the client leaves out must still be here (an image
		// may have been removed since it asked).
		n, err := ir.HasLayers(ctx, req.DiffIDs[:req.Skip])
		if err != nil {
			return res, fmt.Errorf("asking dockerd for layers: %w", err)
		}
		if n < req.Skip {
			return res, codef(proto.CodeLayersGone, "dockerd has %d of the %d bottom layers left out; ask again", n, req.Skip)
		}
	}
	state, err := a.loadState(req.App)
	if err != nil {
		return res, err
	}
	prepare := func(ctx context.Context) error {
		progress("load", fmt.Sprintf("loading image %.19s (%d of %d layers sent)", req.ImageID, len(req.DiffIDs)-req.Skip, len(req.DiffIDs)))
		st, err := a.loadImage(ctx, ir, req, data)
		if err != nil {
			return err
		}
		if err := ir.CheckImage(ctx, req.ImageID, req.App, req.Package); err != nil {
			return withCode(proto.CodeBadStream, fmt.Errorf("checking the loaded image: %w", err))
		}
		a.log.Info("image loaded", "app", req.App, "image", req.ImageID, "layers", st.Layers, "bytes", st.LayerBytes)
		return a.saveImageManifest(req.App, req.Package, req.Manifest)
	}
	res, err = a.release(ctx, state, release{
		Op: intentDeployImage,
		Gen: proto.Generation{Package: req.Package, PushedBy: req.PushedBy, Secrets: req.Secrets,
			Mode: ModeImage, ImageID: req.ImageID},
		Manifest: m, Force: req.Force, Prepare: prepare,
		Describe: func(n int) string { return fmt.Sprintf("%s generation %d: %s (image mode)", req.App, n, req.Package) },
	}, progress)
	if err != nil {
		return res, err
	}
	a.log.Info("deployed", "app", req.App, "generation", res.Generation, "package", req.Package, "image", req.ImageID, "container", res.ContainerID, "changed", res.Changed)
	return res, nil
}

// loadImage decompresses data, checks the archive and feeds it to dockerd.
// A malformed or cut stream aborts the load: dockerd keeps nothing of it.
func (a *Agent) loadImage(ctx context.Context, ir ImageRuntime, req proto.DeployImage, data io.Reader) (archiveStats, error) {
	var st archiveStats
	in := &errReader{r: data}
	zr, err := zstd.NewReader(in, zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return st, fmt.Errorf("starting decompression: %w", err)
	}
	defer zr.Close()
	pr, pw := io.Pipe()
	loadErr := make(chan error, 1)
	go func() {
		err := ir.LoadImage(ctx, pr)
		pr.CloseWithError(errors.New("docker load ended"))
		loadErr <- err
	}()
	spec := archiveSpec{ImageID: req.ImageID, RepoTag: req.RepoTag, DiffIDs: req.DiffIDs, Skip: req.Skip}
	st, cerr := copyDockerArchive(zr, pw, spec)
	if cerr != nil {
		pw.CloseWithError(cerr)
	} else {
		pw.Close()
	}
	lerr := <-loadErr
	switch {
	case cerr != nil && in.err != nil:
		return st, fmt.Errorf("image stream broke: %w", in.err)
	case cerr != nil && errors.Is(cerr, errArchive):
		return st, withCode(proto.CodeBadStream, fmt.Errorf("image refused: %w", cerr))
	case cerr != nil && lerr != nil:
		return st, fmt.Errorf("loading image: %w", lerr)
	case cerr != nil:
		return st, withCode(proto.CodeBadStream, fmt.Errorf("image refused: %w", cerr))
	case lerr != nil:
		return st, fmt.Errorf("loading image: %w", lerr)
	}
	return st, nil
}

// imageManifestPath keeps the manifests of image-mode generations: there is
// no store on the host to read them from again (e.g. for a rollback).
func (a *Agent) imageManifestPath(app, pkg string) string {
	return filepath.Join(a.appsDir(), app, "manifests", filepath.Base(pkg)+".json")
}

func (a *Agent) saveImageManifest(app, pkg string, data []byte) error {
	p := a.imageManifestPath(app, pkg)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("saving manifest of %s: %w", pkg, err)
	}
	if err := writeFileAtomic(p, data, 0o600); err != nil {
		return fmt.Errorf("saving manifest of %s: %w", pkg, err)
	}
	return nil
}

// ImageManifest returns the saved manifest of an image-mode generation's
// package.
func (a *Agent) ImageManifest(app, pkg string) (*manifest.Manifest, error) {
	b, err := os.ReadFile(a.imageManifestPath(app, pkg))
	if err != nil {
		return nil, fmt.Errorf("reading manifest of %s: %w", pkg, err)
	}
	return manifest.Parse(b)
}
