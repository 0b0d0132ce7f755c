// Package agentrt plugs dockerrt into nd-agent as its container Runtime
// (host-store and image mode): cmd/nd-agent wraps its dockerrt.Runtime with
// Wrap. It exists so neither internal/agent nor internal/dockerrt imports
// the other.
package agentrt

import (
	"context"
	"io"

	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/deployspec"
	"github.com/nd-project/nd/internal/dockerrt"
)

// Runtime is nd-agent's container runtime backed by the local dockerd.
type Runtime struct {
	rt     *dockerrt.Runtime
	closer io.Closer
}

var (
	_ agent.Runtime = (*Runtime)(nil)
	_ agent.Pinger  = (*Runtime)(nil)
)

// Docker gives the underlying dockerrt.Runtime (status, logs, remove).
func (r *Runtime) Docker() *dockerrt.Runtime { return r.rt }

// Close releases the Docker client.
func (r *Runtime) Close() error { return r.closer.Close() }

// Ping implements agent.Pinger.
func (r *Runtime) Ping(ctx context.Context) error { return r.rt.Ping(ctx) }

// DataRoot implements agent.DataRooter.
func (r *Runtime) DataRoot(ctx context.Context) (string, error) { return r.rt.DataRoot(ctx) }

// WaitDrain implements agent.DrainWaiter.
func (r *Runtime) WaitDrain(ctx context.Context, app string) error { return r.rt.WaitDrain(ctx, app) }

// Deploy implements agent.Runtime: the package's metadata-only image
// (made and loaded if missing), then the container replaced with rollback.
// Which images stay is the agent's decision (ImageRuntime.PruneImages).
func (r *Runtime) Deploy(ctx context.Context, s deployspec.Spec) (agent.DeployResult, error) {
	s.Progressf("image", "preparing image of %s", s.Package)
	id, err := r.rt.EnsureImageIn(ctx, s.Manifest, s.Package, s.Closure)
	if err != nil {
		return agent.DeployResult{}, err
	}
	s.ImageID, s.HostStore = id, true
	res, err := r.rt.Deploy(ctx, s)
	if err != nil {
		// A failed deploy leaves no image of its own behind.
		r.rt.RemoveImageIfUnused(ctx, s.App, id)
		return agent.DeployResult{}, err
	}
	return agent.DeployResult{ContainerID: res.ContainerID, Changed: res.Changed}, nil
}
