package main

import (
	"context"
	"fmt"

	"github.com/docker/docker/client"
	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/dockerrt/agentrt"
)

// newRuntime connects the agent to the local dockerd through
// internal/dockerrt (agentrt: host-store and image mode). dockerd need not
// be up yet: the Docker capability and each deploy check it.
func newRuntime(ctx context.Context, cfg agent.RuntimeConfig) (agent.Runtime, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("making docker client: %w", err)
	}
	return agentrt.Wrap(dockerrt.New(c, dockerrt.Options{Log: cfg.Log, StoreRoot: cfg.StoreRoot}), c), nil
}
