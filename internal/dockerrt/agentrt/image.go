package agentrt

import (
	"context"
	"io"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/manifest"
)

var (
	_ agent.ImageRuntime  = (*Runtime)(nil)
	_ agent.ImagePreparer = (*Runtime)(nil)
	_ agent.ImageLister   = (*Runtime)(nil)
)

// Wrap makes the agent's Runtime of rt without checking that dockerd
// answers (it need not be up yet: the Docker capability and each deploy
// check it). closer, if not nil, is closed by Close.
func Wrap(rt *dockerrt.Runtime, closer io.Closer) *Runtime {
	if closer == nil {
		closer = io.NopCloser(nil)
	}
	return &Runtime{rt: rt, closer: closer}
}

// PullImage implements agent.ImageRuntime.
func (r *Runtime) PullImage(ctx context.Context, ref, repoTag string, accept []string) (string, error) {
	return r.rt.PullImage(ctx, ref, repoTag, accept)
}

// CheckImage implements agent.ImageRuntime.
func (r *Runtime) CheckImage(ctx context.Context, id, app, pkg string) error {
	return r.rt.CheckImage(ctx, id, app, pkg)
}

// DeployImage implements agent.ImageRuntime: the loaded full image, no
// /nix/store bind mount.
func (r *Runtime) DeployImage(ctx context.Context, s deployspec.Spec) (agent.DeployResult, error) {
	s.HostStore = false
	res, err := r.rt.Deploy(ctx, s)
	if err != nil {
		return agent.DeployResult{}, err
	}
	return agent.DeployResult{ContainerID: res.ContainerID, Changed: res.Changed}, nil
}

// PrepareImage implements agent.ImagePreparer.
func (r *Runtime) PrepareImage(ctx context.Context, m *manifest.Manifest, pkg string, layer []byte) (string, error) {
	return r.rt.PrepareImage(ctx, m, pkg, layer)
}

// RemoveImageIfUnused implements agent.ImagePreparer.
func (r *Runtime) RemoveImageIfUnused(ctx context.Context, app, id string) {
	r.rt.RemoveImageIfUnused(ctx, app, id)
}

// PruneImages implements agent.ImageRuntime.
func (r *Runtime) PruneImages(ctx context.Context, app string, keep []string) error {
	_, err := r.rt.PruneImages(ctx, app, keep...)
	return err
}

// ImageApps implements agent.ImageLister.
func (r *Runtime) ImageApps(ctx context.Context) ([]string, error) {
	return r.rt.ImageApps(ctx)
}
