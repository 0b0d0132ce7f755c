package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/image"
	"github.com/nd-project/nd/internal/manifest"
	"github.com/nd-project/nd/internal/nixstore"
	"github.com/nd-project/nd/internal/proto"
)

// ImageRuntime is what image mode needs of the container runtime besides
// Runtime: pulling an image from the agent's registry, and deploying a
// pulled image without the host's /nix/store. Image mode needs no Nix on
// the host.
type ImageRuntime interface {
	// PullImage has dockerd pull ref, tag it repoTag and returns dockerd's
	// ID of it, which must be one of accept.
	PullImage(ctx context.Context, ref, repoTag string, accept []string) (string, error)
	// CheckImage verifies dockerd holds image id of app's package pkg.
	CheckImage(ctx context.Context, id, app, pkg string) error
	// DeployImage replaces the app's container by one of image
	// spec.ImageID (no /nix/store mount), restoring the previous one on
	// failure.
	DeployImage(ctx context.Context, spec deployspec.Spec) (DeployResult, error)
	// PruneImages removes the app's images except keep and those in use.
	PruneImages(ctx context.Context, app string, keep []string) error
}

func (a *Agent) imageRuntime(ctx context.Context) (ImageRuntime, error) {
	ir, ok := a.cfg.Runtime.(ImageRuntime)
	if !ok || a.cfg.Images == nil {
		return nil, codef(proto.CodeUnsupported, "the container runtime of this nd-agent cannot load images")
	}
	if err := a.requireDocker(ctx); err != nil {
		return nil, err
	}
	return ir, nil
}

func (a *Agent) handleQueryBlobs(ctx context.Context, c *call) error {
	var req proto.QueryBlobs
	if err := c.decode(&req); err != nil {
		return err
	}
	if len(req.Digests) > proto.MaxImageLayers {
		return codef(proto.CodeBadRequest, "%d layers, at most %d", len(req.Digests), proto.MaxImageLayers)
	}
	for _, d := range req.Digests {
		if !digestRE.MatchString(d) {
			return codef(proto.CodeBadRequest, "bad layer digest %q", d)
		}
	}
	if _, err := a.imageRuntime(ctx); err != nil {
		return err
	}
	missing := a.cfg.Images.Store().Missing(req.Digests)
	a.log.Debug("query blobs", "layers", len(req.Digests), "missing", len(missing))
	return c.reply(&proto.Blobs{Missing: missing})
}

func (a *Agent) handleDeployImage(ctx context.Context, c *call) error {
	req, data, err := deployImageRequest(c)
	if err != nil {
		return err
	}
	if !manifest.ValidName(req.App) {
		return codef(proto.CodeBadRequest, "bad app name %q", req.App)
	}
	if err := nixstore.ValidStorePath(req.Package); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	if err := checkImageRequest(&req); err != nil {
		return withCode(proto.CodeBadRequest, err)
	}
	m, err := manifest.Parse(req.Manifest)
	if err != nil {
		return withCode(proto.CodeBadRequest, fmt.Errorf("manifest of %s: %w", req.Package, err))
	}
	if m.Name != req.App {
		return codef(proto.CodeBadRequest, "deploy package %s is app %q, not %q", req.Package, m.Name, req.App)
	}
	res, err := a.DeployImage(ctx, req, m, data, c.progress)
	if err != nil {
		a.forgetFailedFirst(ctx, req.App, req.Secrets)
		return err
	}
	return c.reply(&res)
}

// DeployImage stores the layers read from data (zstd; each checked against
// its digest, see receiveLayers) and has dockerd pull the image from the
// agent's registry, then records and runs a new generation of req.App from
// it (release), like Deploy but without Nix: the generation names the
// package and dockerd's image ID, and holds no GC root. What no kept
// generation runs (images, blobs) is removed.
func (a *Agent) DeployImage(ctx context.Context, req proto.DeployImage, m *manifest.Manifest, data io.Reader, progress func(stage, msg string)) (proto.Deployed, error) {
	var res proto.Deployed
	ir, err := a.imageRuntime(ctx)
	if err != nil {
		return res, err
	}
	// The lock also keeps a concurrent deploy's image pruning away from the
	// images this one relies on.
	unlock, err := a.lockAppFor(ctx, req.App, progress)
	if err != nil {
		return res, err
	}
	defer unlock()
	// Repair first: it may remove images.
	if err := a.reconcileLocked(ctx, req.App, false); err != nil {
		return res, withCode(proto.CodeDeploy, fmt.Errorf("repairing an interrupted deploy of %s first: %w", req.App, err))
	}
	// The image's ID in dockerd is known only once it is pulled, and the
	// release records it: so the pull comes before the intent. A pulled
	// image no generation runs goes with the next retain (or, if the agent
	// dies here, with the sweep of its next start, leftovers.go).
	// The layers and dockerd's unpacking of them are written back as
	// they come, not by the container's create (writeback.go).
	stopWriteback := a.writebackWhile()
	id, err := a.storeAndPull(ctx, ir, req, data, progress)
	stopWriteback()
	if err != nil {
		return res, err
	}
	if err := ir.CheckImage(ctx, id, req.App, req.Package); err != nil {
		return res, withCode(proto.CodeBadStream, fmt.Errorf("checking the pulled image: %w", err))
	}
	a.crashPoint("pulled")
	state, err := a.loadState(req.App)
	if err != nil {
		return res, err
	}
	res, err = a.release(ctx, state, release{
		Op: intentDeployImage,
		Gen: proto.Generation{Package: req.Package, PushedBy: req.PushedBy, Secrets: req.Secrets,
			Mode: manifest.ModeImage, ImageID: id},
		Manifest: m, Force: req.Force,
		Prepare:  func(ctx context.Context) error { return a.saveImageManifest(req.App, req.Package, req.Manifest) },
		Describe: func(n int) string { return fmt.Sprintf("%s generation %d: %s (image mode)", req.App, n, req.Package) },
	}, progress)
	if err != nil {
		return res, err
	}
	a.log.Info("deployed", "app", req.App, "generation", res.Generation, "package", req.Package, "image", id, "container", res.ContainerID, "changed", res.Changed)
	return res, nil
}

// storeAndPull receives the layers nd-push sends into the image store,
// registers the image's manifest with the agent's registry and has dockerd
// pull it; it returns dockerd's ID of the image. A malformed or cut stream
// stores nothing of the bad blob and pulls nothing.
func (a *Agent) storeAndPull(ctx context.Context, ir ImageRuntime, req proto.DeployImage, data io.Reader, progress func(stage, msg string)) (string, error) {
	reg := a.cfg.Images
	st := reg.Store()
	digests := []string{req.ImageID}
	for _, l := range req.Layers {
		digests = append(digests, l.Digest)
	}
	unpin := st.Pin(digests)
	defer unpin()
	sent := map[string]bool{}
	for _, d := range req.Send {
		sent[d] = true
	}
	for _, l := range req.Layers {
		if sent[l.Digest] {
			continue
		}
		// The layers the client leaves out must still be here (they may
		// have been collected since it asked).
		if n, err := st.Size(l.Digest); err != nil || n != l.Size {
			return "", codef(proto.CodeLayersGone, "the image store no longer has layer %s; ask again", l.Digest)
		}
	}
	progress("load", fmt.Sprintf("receiving image %.19s (%d of %d layers sent)", req.ImageID, len(req.Send), len(req.Layers)))
	var wireWait, unzip time.Duration
	t0, cpu0 := time.Now(), rusage(syscall.RUSAGE_SELF)
	in := &errReader{r: &timedReader{r: data, d: &wireWait}}
	zr, err := zstd.NewReader(in, zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return "", fmt.Errorf("starting decompression: %w", err)
	}
	defer zr.Close()
	dec := &errReader{r: &timedReader{r: zr, d: &unzip}}
	n, err := receiveLayers(st, dec, &req)
	if err == nil {
		// For the benchmark's stage breakdown (docs/BENCHMARKS.md).
		a.log.Info("image received", "app", req.App, "bytes", n, "receive_s", formatSeconds(time.Since(t0)),
			"wire_wait_s", formatSeconds(wireWait), "decompress_s", formatSeconds(unzip-wireWait),
			"agent_cpu_s", formatSeconds(rusage(syscall.RUSAGE_SELF)-cpu0))
	}
	switch {
	case err != nil && in.err != nil:
		return "", fmt.Errorf("image stream broke: %w", in.err)
	case err != nil && (errors.Is(err, errStream) || dec.err != nil):
		// announced blobs that do not match, or data that does not
		// decompress
		return "", withCode(proto.CodeBadStream, fmt.Errorf("image refused: %w", err))
	case err != nil:
		return "", fmt.Errorf("receiving the image: %w", err)
	}
	if _, err := st.PutBytes(req.Config); err != nil {
		return "", err
	}
	blobs := make([]image.Blob, len(req.Layers))
	for i, l := range req.Layers {
		blobs[i] = image.Blob{Digest: l.Digest, Size: l.Size}
	}
	mb, err := image.OCIManifest(req.Config, blobs)
	if err != nil {
		return "", err
	}
	repo, _, _ := strings.Cut(req.RepoTag, ":")
	ref, err := reg.PutManifest(repo, mb, image.MediaTypeManifest)
	if err != nil {
		return "", err
	}
	mdigest := ref[strings.LastIndex(ref, "@")+1:]
	progress("load", fmt.Sprintf("dockerd pulls image %.19s", mdigest))
	t1 := time.Now()
	id, err := ir.PullImage(ctx, ref, req.RepoTag, []string{req.ImageID, mdigest})
	if err != nil {
		return "", fmt.Errorf("loading the image into dockerd: %w", err)
	}
	if err := a.saveImageRecord(req.App, id, imageRecord{Config: req.ImageID, Layers: digests[1:]}); err != nil {
		return "", err
	}
	a.log.Info("image pulled", "app", req.App, "image", id, "layers sent", len(req.Send), "bytes", n, "pull_s", formatSeconds(time.Since(t1)))
	return id, nil
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
