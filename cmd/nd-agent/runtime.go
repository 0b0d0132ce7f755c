package main

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/docker/docker/client"
	"github.com/nd-project/nd/internal/agent"
	"github.com/nd-project/nd/internal/dockerrt"
	"github.com/nd-project/nd/internal/dockerrt/agentrt"
	"github.com/nd-project/nd/internal/portswitch"
)

// newRuntime connects the agent to the local dockerd through
// internal/dockerrt (agentrt: host-store and image mode). dockerd need not
// be up yet: the Docker capability and each deploy check it. With iptables
// on the host the agent owns the apps' host ports (internal/portswitch) and
// keeps them leading to the live containers while ctx lasts.
func newRuntime(ctx context.Context, cfg agent.RuntimeConfig) (agent.Runtime, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("making docker client: %w", err)
	}
	opts := dockerrt.Options{Log: cfg.Log, StoreRoot: cfg.StoreRoot, Registry: cfg.Registry}
	if _, err := exec.LookPath("iptables-restore"); err == nil {
		opts.Ports = portswitch.New(portswitch.Options{})
		opts.Relay6 = portswitch.NewRelay6(cfg.Log)
		if _, err := exec.LookPath("ip6tables-restore"); err == nil {
			opts.Ports6 = portswitch.New(portswitch.Options{IPv6: true})
		}
	} else {
		cfg.Log.Warn("no iptables-restore: Docker publishes ports, and apps with ports deploy by recreate")
	}
	rt := dockerrt.New(c, opts)
	go rt.KeepPorts(ctx)
	return agentrt.Wrap(rt, c), nil
}
