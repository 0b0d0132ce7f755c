package main

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/dockerrt"
)

// newRuntime connects the agent to the local dockerd through
// internal/dockerrt. dockerd need not be up yet: the Docker capability and
// each deploy check it.
func newRuntime(ctx context.Context, cfg agent.RuntimeConfig) (agent.Runtime, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("making docker client: %w", err)
	}
	return dockerRuntime{dockerrt.New(c, dockerrt.Options{Log: cfg.Log, StoreRoot: cfg.StoreRoot})}, nil
}

// dockerRuntime adapts dockerrt to agent.Runtime: host-store mode, the
// metadata-only image made from the manifest.
type dockerRuntime struct{ r *dockerrt.Runtime }

var (
	_ agent.Runtime = dockerRuntime{}
	_ agent.Pinger  = dockerRuntime{}
)

func (d dockerRuntime) Ping(ctx context.Context) error { return d.r.Ping(ctx) }

func (d dockerRuntime) Deploy(ctx context.Context, s agent.DeploySpec) (agent.DeployResult, error) {
	s.Progress("image", "metadata image of "+s.Package)
	id, err := d.r.EnsureImage(ctx, s.Manifest, s.Package)
	if err != nil {
		return agent.DeployResult{}, err
	}
	res, err := d.r.Deploy(ctx, dockerrt.DeploySpec{
		App: s.App, Package: s.Package, Manifest: s.Manifest, ImageID: id,
		Generation: s.Generation, HostStore: true, Force: s.Force, Progress: s.Progress,
	})
	if err != nil {
		return agent.DeployResult{}, err
	}
	return agent.DeployResult{ContainerID: res.ContainerID, Changed: res.Changed}, nil
}
